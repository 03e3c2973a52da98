using System.Text.Json;
using Kernels.Cli;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Models.AnatomicalAugmentation;
using Kernels.Tests.IO;

namespace Kernels.Tests.Lits;

/// <summary>`kernels train anatomical-augmentation` in-process at a tiny size, the phantom
/// adapter, and the command's errors.</summary>
public class AnatomicalAugmentationCommandTests : TempFolderTest
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    private static readonly string[] Tiny =
        ["train", "anatomical-augmentation", "--device", "cpu", "--seed", "4", "--cases", "3", "--held-out", "1",
         "--phantom-size", "32,32,16", "--slice-size", "16", "--width", "4", "--depth", "2", "--epochs", "1", "--batch", "2"];

    [Test]
    public void ATinyRunPrintsBothResultsAndWritesMetricsAndCheckpoints()
    {
        var (code, output, err) = Run([.. Tiny, "--neighbours", "1", "--out", Dir]);
        Assert.That(code, Is.Zero, err + output);
        Assert.That(output, Does.Contain("without (k = 0)").And.Contain("with k = 1").And.Contain("difference (k = 1)"));
        Assert.That(output, Does.Contain("success rate").And.Contain("pixel accuracy").And.Contain("mean lesion Dice"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "metrics.json")));
        Assert.That(doc.RootElement.GetProperty("train_cases").GetInt32(), Is.EqualTo(2));
        Assert.That(doc.RootElement.GetProperty("test_cases").GetInt32(), Is.EqualTo(1));
        Assert.That(File.Exists(Path.Combine(Dir, "checkpoint-baseline.safetensors")));
        Assert.That(File.Exists(Path.Combine(Dir, "checkpoint-augmented.safetensors")));
    }

    [TestCase("--held-out", "3", "hold out")]
    [TestCase("--neighbours", "1,x", "--neighbours")]
    [TestCase("--phantom-size", "32,32", "X,Y,Z")]
    [TestCase("--slice-size", "18", "multiple of 4")]
    public void BadOptionsAreUserErrors(string option, string value, string expected)
    {
        var args = Tiny.ToList();
        int at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value;
        else args.AddRange([option, value]);
        var (code, _, err) = Run([.. args, "--out", Dir]);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain(expected));
    }

    [Test]
    public void PhantomCasesBecomeAnnotatedVolumesWithTheirLesionKinds()
    {
        var o = new PhantomOptions { X = 32, Y = 32, Z = 16, MinLesions = 3, MaxLesions = 3, LesionRadiusMm = (12, 20) };
        var c = PhantomGenerator.Generate(o, 7, 0);
        var v = PhantomVolumes.FromPhantom(c);
        Assert.That((v.Width, v.Height, v.Depth), Is.EqualTo((32, 32, 16)));
        Assert.That(v.LesionCount, Is.EqualTo(c.Lesions.Count));
        foreach (var l in c.Lesions) Assert.That(v.LesionKinds[l.Id - 1], Is.EqualTo(l.Class));
        for (int i = 0; i < c.Labels.Length; i++)
        {
            int expected = c.LesionIds[i] > 0 ? c.LesionClasses[i] : c.Labels[i] >= 1 ? PixelClass.HealthyLiver : PixelClass.Ignore;
            if (v.ClassAt(i) != expected) Assert.Fail($"voxel {i}: class {v.ClassAt(i)}, expected {expected}");
        }
        Assert.That(SparseAnnotation.ChooseLabelledSlices(v).Sum(s => s.LesionIds.Count), Is.EqualTo(c.Lesions.Count(l => l.Voxels > 0)));
    }
}
