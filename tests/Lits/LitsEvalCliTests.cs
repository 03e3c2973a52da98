using System.Text.Json;
using Kernels.Cli;
using Kernels.Nets.Data.Nifti;
using Kernels.Tests.IO;

namespace Kernels.Tests.Lits;

/// <summary>`kernels eval lits` end to end: the cases of the independent scorer's second seed set
/// written as NIfTI files (references uint8 .nii, predictions int16 .nii.gz), evaluated in-process;
/// the JSON must have exactly the issue's keys and the scorer's numbers. Then the errors.</summary>
public class LitsEvalCliTests : TempFolderTest
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    private string PredDir => PathOf("pred");
    private string RefDir => PathOf("ref");

    private static void Write(string path, byte[] labels, (int, int, int) shape, (double, double, double) spacing, NiftiDataType type)
    {
        if (type == NiftiDataType.UInt8) NiftiWriter.Write(path, NiftiImage<byte>.Create(labels, shape, spacing), type);
        else NiftiWriter.Write(path, NiftiImage<int>.Create(labels.Select(b => (int)b).ToArray(), shape, spacing), type);
    }

    private LitsEvalVectorTests.VectorSet WriteSet(string set)
    {
        var v = LitsEvalVectorTests.Load(set);
        Directory.CreateDirectory(PredDir);
        Directory.CreateDirectory(RefDir);
        foreach (var c in v.Cases)
        {
            var shape = (c.Shape.X, c.Shape.Y, c.Shape.Z);
            var spacing = (c.Spacing.X, c.Spacing.Y, c.Spacing.Z);
            Write(Path.Combine(RefDir, $"segmentation-{c.Id}.nii"), c.Ref, shape, spacing, NiftiDataType.UInt8);
            Write(Path.Combine(PredDir, $"segmentation-{c.Id}.nii.gz"), c.Pred, shape, spacing, NiftiDataType.Int16);
        }
        // Files that are not segmentations are ignored.
        File.WriteAllText(Path.Combine(RefDir, "notes.txt"), "not a case");
        return v;
    }

    private static readonly string[] CaseKeys = ["id", "liver", "lesion", "tumor_burden"];
    private static readonly string[] ScoreKeys = ["dice", "jaccard", "voe", "rvd", "assd", "rmsd", "msd"];
    private static readonly string[] SummaryKeys =
    [
        "lesion_dice_per_case", "lesion_dice_global", "liver_dice_per_case", "liver_dice_global", "detection",
        "lesion_jaccard", "lesion_voe", "lesion_rvd", "lesion_assd", "lesion_rmsd", "lesion_msd",
        "tumor_burden_rmse", "tumor_burden_max_error",
    ];
    private static readonly string[] DetectionKeys = ["precision", "recall", "precision_greater_zero", "recall_greater_zero"];

    private static string[] Keys(JsonElement e) => [.. e.EnumerateObject().Select(p => p.Name)];

    private static void Near(JsonElement expected, JsonElement actual, string what)
    {
        double e = expected.GetDouble(), a = actual.GetDouble();
        // The NIfTI header stores the spacing as float32: distances move by ~1e-8 relative.
        Assert.That(a, Is.EqualTo(e).Within(1e-4 * Math.Max(Math.Abs(e), 1e-9)), what);
    }

    [Test]
    public void WritesTheIssueSchemaWithTheIndependentScorersNumbers()
    {
        var v = WriteSet("set77031");
        using var _ = v.Doc;
        var json = PathOf("lits.json");
        var (code, output, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir, "--json", json);
        Assert.That(code, Is.Zero, err);
        Assert.That(err, Does.Not.Contain("warning"), "same grids: no affine warning");
        Assert.That(output, Does.Contain("LiTS summary").And.Contain("overlap > 0.5").And.Contain("tumour burden: RMSE"));

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.That(Keys(root), Is.EqualTo(new[] { "cases", "summary" }));
        var cases = root.GetProperty("cases").EnumerateArray().ToArray();
        var expectedCases = v.Expected.GetProperty("cases").EnumerateArray().ToDictionary(c => c.GetProperty("id").GetString()!);
        Assert.That(cases.Select(c => c.GetProperty("id").GetString()), Is.EquivalentTo(expectedCases.Keys));
        Assert.That(cases.Select(c => int.Parse(c.GetProperty("id").GetString()!)), Is.Ordered, "cases in numeric order");
        foreach (var c in cases)
        {
            string id = c.GetProperty("id").GetString()!;
            var e = expectedCases[id];
            Assert.That(Keys(c), Is.EqualTo(CaseKeys), id);
            Assert.That(Keys(c.GetProperty("liver")), Is.EqualTo(ScoreKeys), id);
            Assert.That(Keys(c.GetProperty("lesion")), Is.EqualTo(new[] { "dice" }), id);
            Assert.That(Keys(c.GetProperty("tumor_burden")), Is.EqualTo(new[] { "ref", "pred" }), id);
            foreach (var k in ScoreKeys) Near(e.GetProperty("liver").GetProperty(k), c.GetProperty("liver").GetProperty(k), $"case {id} liver.{k}");
            Near(e.GetProperty("lesion").GetProperty("dice"), c.GetProperty("lesion").GetProperty("dice"), $"case {id} lesion.dice");
            foreach (var k in new[] { "ref", "pred" })
                Near(e.GetProperty("tumor_burden").GetProperty(k), c.GetProperty("tumor_burden").GetProperty(k), $"case {id} tumor_burden.{k}");
        }
        var s = root.GetProperty("summary");
        var es = v.Expected.GetProperty("summary");
        Assert.That(Keys(s), Is.EqualTo(SummaryKeys));
        Assert.That(Keys(s.GetProperty("detection")), Is.EqualTo(DetectionKeys));
        foreach (var k in SummaryKeys.Where(k => k != "detection")) Near(es.GetProperty(k), s.GetProperty(k), k);
        foreach (var k in DetectionKeys) Near(es.GetProperty("detection").GetProperty(k), s.GetProperty("detection").GetProperty(k), k);
    }

    private void TinyPair(string id, (int, int, int) shape, (double, double, double) spacing, bool pred = true, bool reference = true, string predExt = ".nii")
    {
        Directory.CreateDirectory(PredDir);
        Directory.CreateDirectory(RefDir);
        int n = shape.Item1 * shape.Item2 * shape.Item3;
        var labels = new byte[n];
        for (int i = 0; i < n; i++) labels[i] = (byte)(i % 7 == 0 ? 2 : i % 3 == 0 ? 0 : 1);
        if (reference) Write(Path.Combine(RefDir, $"segmentation-{id}.nii"), labels, shape, spacing, NiftiDataType.UInt8);
        if (pred) Write(Path.Combine(PredDir, $"segmentation-{id}{predExt}"), labels, shape, spacing, NiftiDataType.UInt8);
    }

    [Test]
    public void AMissingPredictionIsAnErrorNamingIt()
    {
        TinyPair("1", (4, 4, 3), (1, 1, 2));
        TinyPair("2", (4, 4, 3), (1, 1, 2), pred: false);
        var (code, _, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("segmentation-2.nii").And.Contain("pred"));
    }

    [Test]
    public void APredictionWithoutReferenceIsAnErrorNamingIt()
    {
        TinyPair("1", (4, 4, 3), (1, 1, 2));
        TinyPair("12", (4, 4, 3), (1, 1, 2), reference: false);
        var (code, _, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("segmentation-12.nii"));
    }

    [Test]
    public void MismatchedShapesAreAnError()
    {
        TinyPair("3", (4, 4, 3), (1, 1, 2), pred: false);
        TinyPair("3", (4, 5, 3), (1, 1, 2), reference: false);
        var (code, _, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("case 3").And.Contain("4×5×3").And.Contain("4×4×3"));
    }

    [Test]
    public void MismatchedSpacingIsAnErrorNotAResample()
    {
        TinyPair("4", (4, 4, 3), (0.8, 0.8, 2.5), pred: false);
        TinyPair("4", (4, 4, 3), (0.8, 0.8, 5.0), reference: false);
        var (code, _, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("spacing").And.Contain("resample").And.Contain("segmentation-4.nii"));
    }

    [Test]
    public void TheSameCaseAsNiiAndNiiGzIsAnError()
    {
        TinyPair("5", (4, 4, 3), (1, 1, 1));
        TinyPair("5", (4, 4, 3), (1, 1, 1), reference: false, predExt: ".nii.gz");
        var (code, _, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("segmentation-5.nii").And.Contain("segmentation-5.nii.gz"));
    }

    [Test]
    public void EmptyOrMissingFoldersAreErrors()
    {
        Directory.CreateDirectory(PredDir);
        Directory.CreateDirectory(RefDir);
        var (code, _, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("no segmentation-N.nii"));
        (code, _, err) = Run("eval", "lits", "--pred", PathOf("nowhere"), "--ref", RefDir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("nowhere"));
        (code, _, _) = Run("eval", "lits", "--ref", RefDir);
        Assert.That(code, Is.EqualTo(2), "--pred is required");
    }

    [Test]
    public void DifferentAffinesAreScoredAsStoredWithAWarning()
    {
        TinyPair("6", (4, 4, 3), (1, 1, 2), pred: false);
        Directory.CreateDirectory(PredDir);
        var labels = new byte[48];
        labels[5] = 1;
        var moved = new double[,] { { 1, 0, 0, 10 }, { 0, 1, 0, 0 }, { 0, 0, 2, 0 }, { 0, 0, 0, 1 } };
        NiftiWriter.Write(Path.Combine(PredDir, "segmentation-6.nii"), NiftiImage<byte>.Create(labels, (4, 4, 3), (1, 1, 2), moved), NiftiDataType.UInt8);
        var (code, _, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir);
        Assert.That(code, Is.Zero, err);
        Assert.That(err, Does.Contain("warning").And.Contain("case 6").And.Contain("affine"));
    }

    [Test]
    public void IdenticalFoldersScorePerfectly()
    {
        TinyPair("7", (6, 5, 4), (0.7, 0.9, 3));
        var json = PathOf("perfect.json");
        var (code, _, err) = Run("eval", "lits", "--pred", PredDir, "--ref", RefDir, "--json", json);
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var c = doc.RootElement.GetProperty("cases")[0];
        Assert.That(c.GetProperty("liver").GetProperty("dice").GetDouble(), Is.EqualTo(1));
        Assert.That(c.GetProperty("liver").GetProperty("msd").GetDouble(), Is.Zero);
        var s = doc.RootElement.GetProperty("summary");
        Assert.That(s.GetProperty("detection").GetProperty("recall").GetDouble(), Is.EqualTo(1));
        Assert.That(s.GetProperty("detection").GetProperty("precision").GetDouble(), Is.EqualTo(1));
        Assert.That(s.GetProperty("tumor_burden_rmse").GetDouble(), Is.Zero);
    }
}
