using System.Text.Json;
using Kernels.Cli;
using Kernels.Nets.IO;
using Kernels.Tests.IO;

namespace Kernels.Tests.Data;

/// <summary>`kernels train ml-decoder` with --data coco:&lt;dir&gt;, --augment and --zero-shot,
/// in-process on the cpu at a tiny size (a few steps; only that it runs and writes what it should).</summary>
public class TrainMlDecoderDataCommandTests : TempFolderTest
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    private static readonly string[] Tiny =
        ["train", "ml-decoder", "--device", "cpu", "--seed", "2", "--image-size", "32", "--epochs", "1",
         "--steps-per-epoch", "2", "--batch", "4", "--embed-dim", "32", "--feed-forward", "48"];

    private string Coco()
    {
        var root = Path.Combine(Dir, "coco");
        Directory.CreateDirectory(root);
        return CocoFixture.Write(root);
    }

    [Test]
    public void TrainsOnCocoStyleFolder()
    {
        var coco = Coco();
        var outDir = Path.Combine(Dir, "run");
        var (code, output, err) = Run([.. Tiny, "--data", $"coco:{coco}", "--augment", "cutout+randaugment", "--out", outDir]);
        Assert.That(code, Is.Zero, err);
        // Spectre wraps long lines at the console width: compare without the breaks.
        Assert.That(output.Replace("\n", ""), Does.Contain("5 train / 3 val images, 3 classes"));
        Assert.That(output.TrimEnd(), Does.Match(@"final mAP: \d+\.\d\d$"));
        using var c = TrainingCheckpoint.Load(Path.Combine(outDir, "checkpoint.safetensors"));
        Assert.That(c.Extra["classes"], Is.EqualTo("3"));
        Assert.That(c.Extra["class_names"], Is.EqualTo("[\"disc\",\"square\",\"bar\"]"));
    }

    [Test]
    public void ZeroShotOnSyntheticDataReportsZslAndGzsl()
    {
        var outDir = Path.Combine(Dir, "zs");
        var (code, output, err) = Run([.. Tiny, "--classes", "10", "--val-images", "24", "--zero-shot", "--word-vectors", "synthetic",
            "--random-tokens", "2", "--query-noise", "0.05", "--out", outDir]);
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Contain("epoch 1 model: ZSL mAP").And.Contain("GZSL mAP"));
        // Of every fifth class (4, 9) only 9 "blue square" is kept: class 4's cross shape occurs in no other of the 10 classes.
        Assert.That(File.ReadAllLines(Path.Combine(outDir, "unseen.txt")), Is.EqualTo(new[] { "blue square" }));
        Assert.That(File.Exists(Path.Combine(outDir, "word-vectors.txt")));
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "zero-shot.json")));
        var evals = report.RootElement.GetProperty("evaluations");
        Assert.That(evals.GetArrayLength(), Is.EqualTo(2), "model and EMA");
        var zsl = evals[0].GetProperty("zsl");
        Assert.That(zsl.GetProperty("columns").GetInt32(), Is.EqualTo(1));
        Assert.That(evals[0].GetProperty("gzsl").GetProperty("columns").GetInt32(), Is.EqualTo(10));
        Assert.That(zsl.GetProperty("map").GetDouble(), Is.InRange(0.0, 100.0));
        // The run's mAP is the better ZSL mAP of model and EMA.
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")));
        double best = Math.Max(zsl.GetProperty("map").GetDouble(), evals[1].GetProperty("zsl").GetProperty("map").GetDouble());
        Assert.That(metrics.RootElement.GetProperty("map").GetDouble(), Is.EqualTo(best).Within(1e-9));
    }

    [Test]
    public void ZeroShotOnCocoWithWordVectorAndSplitFiles()
    {
        var coco = Coco();
        var vectors = Path.Combine(Dir, "vectors.txt");
        File.WriteAllText(vectors, "disc 1 0 0 0.5\nsquare 0 1 0 0.5\nbar 0 0 1 0.5\nunused 1 1 1 1\n");
        var unseen = Path.Combine(Dir, "unseen.txt");
        File.WriteAllText(unseen, "bar\n");
        var outDir = Path.Combine(Dir, "run");
        var (code, output, err) = Run([.. Tiny, "--data", $"coco:{coco}", "--augment", "none", "--zero-shot", "--word-vectors", vectors,
            "--unseen", unseen, "--out", outDir]);
        Assert.That(code, Is.Zero, err);
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "zero-shot.json")));
        Assert.That(report.RootElement.GetProperty("unseen")[0].GetString(), Is.EqualTo("bar"));
        Assert.That(report.RootElement.GetProperty("seen").GetArrayLength(), Is.EqualTo(2));
    }

    [TestCase(new[] { "--zero-shot" }, "--word-vectors")]
    [TestCase(new[] { "--unseen", "x.txt" }, "--zero-shot")]
    [TestCase(new[] { "--augment", "mixup" }, "--augment")]
    [TestCase(new[] { "--data", "imagenet" }, "--data")]
    [TestCase(new[] { "--zero-shot", "--word-vectors", "/nowhere/vectors.txt" }, "/nowhere/vectors.txt")]
    public void RefusesBadOptionsNamingThem(string[] extra, string named)
    {
        var (code, _, err) = Run([.. Tiny, .. extra, "--out", Path.Combine(Dir, "bad")]);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain(named));
    }
}
