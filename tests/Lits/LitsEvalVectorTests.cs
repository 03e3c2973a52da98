using System.IO.Compression;
using System.Text.Json;
using Kernels.Nets.Metrics.Lits;

namespace Kernels.Tests.Lits;

/// <summary>The C# LiTS evaluation against the independent numpy/scipy implementation
/// (scripts/vectors/lits_eval.py) on its random cases: every number to 1e-4 relative (the issue's
/// bar). The first nine cases of set1205 were generated before the C# side was written and used
/// while developing it; set77031 and the tenth case of both sets (kind "merge") were generated
/// only after it was written, and it agreed with them on its first run without any change. The
/// eleventh case ("tie", equal overlaps whose outcome depends on the component numbering) came
/// with the switch to the scorer's numbering (x slowest).</summary>
public class LitsEvalVectorTests
{
    private const double Rtol = 1e-4;

    /// <summary>The loaded cases of one set and the reference's expected output.</summary>
    internal sealed record VectorSet(
        List<(string Id, byte[] Pred, byte[] Ref, VolumeShape Shape, VoxelSpacing Spacing, string Kind)> Cases,
        JsonElement Expected, JsonDocument Doc);

    internal static VectorSet Load(string name)
    {
        var dir = Path.Combine(TestContext.CurrentContext.TestDirectory, "Vectors", "lits_eval");
        var jsonPath = Path.Combine(dir, name + ".json");
        if (!File.Exists(jsonPath))
            throw new FileNotFoundException($"{jsonPath} is missing: run /usr/bin/python3 scripts/vectors/lits_eval.py", jsonPath);
        var doc = JsonDocument.Parse(File.ReadAllText(jsonPath));
        var root = doc.RootElement;
        byte[] blob;
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(dir, root.GetProperty("volumes").GetString()!)), CompressionMode.Decompress))
        using (var ms = new MemoryStream())
        {
            gz.CopyTo(ms);
            blob = ms.ToArray();
        }
        var cases = new List<(string, byte[], byte[], VolumeShape, VoxelSpacing, string)>();
        foreach (var c in root.GetProperty("layout").EnumerateArray())
        {
            var s = c.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var sp = c.GetProperty("spacing").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var shape = new VolumeShape(s[0], s[1], s[2]);
            int n = (int)shape.Voxels, ro = c.GetProperty("ref_offset").GetInt32(), po = c.GetProperty("pred_offset").GetInt32();
            cases.Add((c.GetProperty("id").GetString()!, blob[po..(po + n)], blob[ro..(ro + n)], shape,
                new VoxelSpacing(sp[0], sp[1], sp[2]), c.GetProperty("kind").GetString()!));
        }
        return new VectorSet(cases, root.GetProperty("expected"), doc);
    }

    /// <summary>Compares and records the largest relative difference seen.</summary>
    private sealed class Checker
    {
        public double MaxRelative;
        public int Numbers;
        public readonly List<string> Failures = [];

        public void Near(double expected, double actual, string what)
        {
            Numbers++;
            double diff = Math.Abs(actual - expected);
            double rel = expected == 0 ? diff : diff / Math.Abs(expected);
            if (expected == 0 && diff <= 1e-12) rel = 0;
            MaxRelative = Math.Max(MaxRelative, rel);
            if (!(rel <= Rtol)) Failures.Add($"{what}: {actual:G10}, expected {expected:G10}");
        }

        public void Same(int expected, int actual, string what)
        {
            Numbers++;
            if (expected != actual) Failures.Add($"{what}: {actual}, expected {expected}");
        }

        public void Scores(JsonElement e, SegmentationScores a, string what)
        {
            Near(e.GetProperty("dice").GetDouble(), a.Dice, what + ".dice");
            Near(e.GetProperty("jaccard").GetDouble(), a.Jaccard, what + ".jaccard");
            Near(e.GetProperty("voe").GetDouble(), a.Voe, what + ".voe");
            Near(e.GetProperty("rvd").GetDouble(), a.Rvd, what + ".rvd");
            Near(e.GetProperty("assd").GetDouble(), a.Assd, what + ".assd");
            Near(e.GetProperty("rmsd").GetDouble(), a.Rmsd, what + ".rmsd");
            Near(e.GetProperty("msd").GetDouble(), a.Msd, what + ".msd");
        }

        public void Counts(JsonElement e, DetectionCounts a, string what)
        {
            Same(e.GetProperty("tp").GetInt32(), a.TruePositives, what + ".tp");
            Same(e.GetProperty("fp").GetInt32(), a.FalsePositives, what + ".fp");
            Same(e.GetProperty("fn").GetInt32(), a.FalseNegatives, what + ".fn");
        }
    }

    [TestCase("set1205")]
    [TestCase("set77031")]
    public void AgreesWithTheIndependentScorerOnEveryNumber(string set)
    {
        var v = Load(set);
        using var _ = v.Doc;
        var eval = new LitsEvaluator();
        foreach (var c in v.Cases) eval.AddCase<byte>(c.Id, c.Pred, c.Ref, c.Shape, c.Spacing);
        var report = eval.Finish();
        var check = new Checker();

        var cases = v.Expected.GetProperty("cases").EnumerateArray().ToArray();
        Assert.That(report.Cases, Has.Count.EqualTo(cases.Length));
        for (int i = 0; i < cases.Length; i++)
        {
            var e = cases[i];
            var a = report.Cases[i];
            string id = $"case {a.Id} ({v.Cases[i].Kind})";
            Assert.That(a.Id, Is.EqualTo(e.GetProperty("id").GetString()));
            check.Scores(e.GetProperty("liver"), a.Liver, id + " liver");
            check.Near(e.GetProperty("lesion").GetProperty("dice").GetDouble(), a.LesionDice, id + " lesion.dice");
            check.Near(e.GetProperty("tumor_burden").GetProperty("ref").GetDouble(), a.TumorBurdenReference, id + " burden.ref");
            check.Near(e.GetProperty("tumor_burden").GetProperty("pred").GetDouble(), a.TumorBurdenPrediction, id + " burden.pred");
            check.Same(e.GetProperty("predicted_lesions").GetInt32(), a.PredictedLesions, id + " predicted lesions");
            check.Same(e.GetProperty("reference_lesions").GetInt32(), a.ReferenceLesions, id + " reference lesions");
            check.Counts(e.GetProperty("detection").GetProperty("greater_half"), a.Detection, id + " detection>0.5");
            check.Counts(e.GetProperty("detection").GetProperty("greater_zero"), a.DetectionAboveZero, id + " detection>0");
            var lesions = e.GetProperty("detected_lesions").EnumerateArray().ToArray();
            check.Same(lesions.Length, a.DetectedLesions.Count, id + " detected lesions");
            for (int k = 0; k < Math.Min(lesions.Length, a.DetectedLesions.Count); k++)
            {
                check.Same(lesions[k].GetProperty("references").GetInt32(), a.DetectedLesions[k].References, $"{id} lesion {k} references");
                check.Same(lesions[k].GetProperty("predictions").GetInt32(), a.DetectedLesions[k].Predictions, $"{id} lesion {k} predictions");
                check.Scores(lesions[k], a.DetectedLesions[k].Scores, $"{id} lesion {k}");
            }
        }

        var s = v.Expected.GetProperty("summary");
        var r = report.Summary;
        check.Near(s.GetProperty("lesion_dice_per_case").GetDouble(), r.LesionDicePerCase, "lesion_dice_per_case");
        check.Near(s.GetProperty("lesion_dice_global").GetDouble(), r.LesionDiceGlobal, "lesion_dice_global");
        check.Near(s.GetProperty("liver_dice_per_case").GetDouble(), r.LiverDicePerCase, "liver_dice_per_case");
        check.Near(s.GetProperty("liver_dice_global").GetDouble(), r.LiverDiceGlobal, "liver_dice_global");
        var det = s.GetProperty("detection");
        check.Near(det.GetProperty("precision").GetDouble(), r.Precision, "precision");
        check.Near(det.GetProperty("recall").GetDouble(), r.Recall, "recall");
        check.Near(det.GetProperty("precision_greater_zero").GetDouble(), r.PrecisionAboveZero, "precision_greater_zero");
        check.Near(det.GetProperty("recall_greater_zero").GetDouble(), r.RecallAboveZero, "recall_greater_zero");
        check.Counts(s.GetProperty("counts").GetProperty("greater_half"), r.Detection, "counts>0.5");
        check.Counts(s.GetProperty("counts").GetProperty("greater_zero"), r.DetectionAboveZero, "counts>0");
        check.Same(s.GetProperty("detected_lesions").GetInt32(), r.DetectedLesions, "detected lesions");
        check.Near(s.GetProperty("lesion_jaccard").GetDouble(), r.LesionMeans.Jaccard, "lesion_jaccard");
        check.Near(s.GetProperty("lesion_voe").GetDouble(), r.LesionMeans.Voe, "lesion_voe");
        check.Near(s.GetProperty("lesion_rvd").GetDouble(), r.LesionMeans.Rvd, "lesion_rvd");
        check.Near(s.GetProperty("lesion_assd").GetDouble(), r.LesionMeans.Assd, "lesion_assd");
        check.Near(s.GetProperty("lesion_rmsd").GetDouble(), r.LesionMeans.Rmsd, "lesion_rmsd");
        check.Near(s.GetProperty("lesion_msd").GetDouble(), r.LesionMeans.Msd, "lesion_msd");
        check.Near(s.GetProperty("tumor_burden_rmse").GetDouble(), r.TumorBurdenRmse, "tumor_burden_rmse");
        check.Near(s.GetProperty("tumor_burden_max_error").GetDouble(), r.TumorBurdenMaxError, "tumor_burden_max_error");

        TestContext.Out.WriteLine($"{set}: {check.Numbers} numbers compared, max relative difference {check.MaxRelative:G3}");
        Assert.That(check.Failures, Is.Empty, string.Join("\n", check.Failures));
        Assert.That(check.Numbers, Is.GreaterThan(200), "the set must exercise many numbers");
    }

    [Test]
    public void TheSetsCoverTheAwkwardCases()
    {
        // The vectors are only worth something if they hold the cases the issue names.
        foreach (var set in new[] { "set1205", "set77031" })
        {
            var v = Load(set);
            using var _ = v.Doc;
            var kinds = v.Cases.Select(c => c.Kind).ToHashSet();
            Assert.That(kinds, Is.SupersetOf(new[] { "empty_pred", "no_ref_lesion", "no_lesion", "pred_only_tumour", "random", "merge", "tie" }), set);
            Assert.That(v.Cases.Any(c => c.Spacing.X != c.Spacing.Z && c.Spacing.Y != c.Spacing.Z), set + ": anisotropic spacing");
            var lesions = v.Expected.GetProperty("cases").EnumerateArray().SelectMany(c => c.GetProperty("detected_lesions").EnumerateArray()).ToArray();
            Assert.That(lesions.Any(l => l.GetProperty("references").GetInt32() > 1), set + ": a detected group merging several references");
            Assert.That(lesions.Any(l => l.GetProperty("predictions").GetInt32() > 1), set + ": a detected group merging several predictions");
        }
    }
}
