using System.Globalization;
using System.Text.Json;
using Kernels.Cli;
using Kernels.Nets;
using Kernels.Nets.Data;
using Kernels.Nets.Imaging;
using Kernels.Nets.Models.MlDecoder;
using Kernels.Tests.IO;

namespace Kernels.Tests.Cli;

/// <summary>`kernels train ml-decoder --resume`, `kernels eval ml-decoder` and `kernels predict`
/// in-process on the cpu at a tiny size: one training run per fixture, then the verbs on its files.</summary>
public class MlDecoderEvalCommandTests : TempFolderTest
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    private static readonly string[] Tiny =
        ["train", "ml-decoder", "--device", "cpu", "--seed", "2", "--classes", "6", "--image-size", "32", "--epochs", "1",
         "--steps-per-epoch", "2", "--batch", "3", "--embed-dim", "32", "--feed-forward", "48", "--val-images", "40"];

    private string _run = "";

    [OneTimeSetUp]
    public void TrainOnce()
    {
        _run = Path.Combine(Path.GetTempPath(), "kernels-mld-eval-" + Guid.NewGuid().ToString("N"));
        var (code, _, err) = Run([.. Tiny, "--out", _run]);
        Assert.That(code, Is.Zero, err);
    }

    [OneTimeTearDown]
    public void RemoveRun()
    {
        if (Directory.Exists(_run)) Directory.Delete(_run, recursive: true);
    }

    private string Checkpoint => Path.Combine(_run, "checkpoint.safetensors");

    [Test]
    public void TrainingLeftTheResumableStateAndTheCurves()
    {
        Assert.That(File.Exists(Path.Combine(_run, "last.safetensors")));
        Assert.That(File.Exists(Path.Combine(_run, "curves.png")));
    }

    [Test]
    public void EvalReproducesTheTrainingRunsMapAndWritesJson()
    {
        var json = PathOf("eval.json");
        var (code, output, err) = Run("eval", "ml-decoder", "--device", "cpu", "--checkpoint", Checkpoint, "--data", "synthetic", "--json", json);
        Assert.That(code, Is.Zero, err);
        foreach (var metric in new[] { "mAP", "CP@0.5", "CR@0.5", "CF1@0.5", "OP@0.5", "OR@0.5", "OF1@0.5" })
            Assert.That(output, Does.Contain(metric));

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(_run, "metrics.json")));
        double trained = metrics.RootElement.GetProperty("map").GetDouble();
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        // The same weights on the same held-out images: the mAP the training run reported.
        Assert.That(root.GetProperty("map").GetDouble(), Is.EqualTo(trained).Within(1e-9));
        Assert.That(output, Does.Contain(trained.ToString("0.00", CultureInfo.InvariantCulture)));
        Assert.That(root.GetProperty("images").GetInt32(), Is.EqualTo(40), "the training run's held-out set by default");
        Assert.That(root.GetProperty("threshold").GetDouble(), Is.EqualTo(0.5));
        foreach (var key in new[] { "cp", "cr", "cf1", "op", "or", "of1", "f1_at_3", "f1_at_5" })
            Assert.That(root.GetProperty(key).GetDouble(), Is.InRange(0.0, 100.0), key);
        Assert.That(root.GetProperty("per_class").GetArrayLength(), Is.EqualTo(6));
        Assert.That(TempFiles(), Is.Empty);
    }

    [Test]
    public void TheThresholdChangesThePredictedCounts()
    {
        var low = PathOf("low.json");
        var high = PathOf("high.json");
        Assert.That(Run("eval", "ml-decoder", "--device", "cpu", "--checkpoint", Checkpoint, "--val-images", "24", "--threshold", "0.05", "--json", low).Code, Is.Zero);
        Assert.That(Run("eval", "ml-decoder", "--device", "cpu", "--checkpoint", Checkpoint, "--val-images", "24", "--threshold", "0.95", "--json", high).Code, Is.Zero);
        using var a = JsonDocument.Parse(File.ReadAllText(low));
        using var b = JsonDocument.Parse(File.ReadAllText(high));
        Assert.That(a.RootElement.GetProperty("map").GetDouble(), Is.EqualTo(b.RootElement.GetProperty("map").GetDouble()), "mAP does not depend on the threshold");
        Assert.That(a.RootElement.GetProperty("or").GetDouble(), Is.GreaterThanOrEqualTo(b.RootElement.GetProperty("or").GetDouble()));
        Assert.That(a.RootElement.GetProperty("threshold").GetDouble(), Is.EqualTo(0.05));
    }

    [Test]
    public void EvalRefusesDataWithAnotherClassCountNamingTheTensor()
    {
        var (code, _, err) = Run("eval", "ml-decoder", "--device", "cpu", "--checkpoint", Checkpoint, "--classes", "8", "--val-images", "16");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("'head.duplicate_pooling'").And.Contain("[6, 32, 1]").And.Contain("[6, 32, 2]"));
    }

    [TestCase("--threshold", "1.5", "--threshold")]
    [TestCase("--data", "imagenet", "--data")]
    [TestCase("--val-images", "0", "--val-images")]
    [TestCase("--checkpoint", "/nowhere/ck.safetensors", "/nowhere/ck.safetensors")]
    public void EvalRefusesBadOptionsNamingThem(string option, string value, string named)
    {
        string[] args = option == "--checkpoint"
            ? ["eval", "ml-decoder", "--device", "cpu", option, value]
            : ["eval", "ml-decoder", "--device", "cpu", "--checkpoint", Checkpoint, option, value];
        var (code, _, err) = Run(args);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain(named));
    }

    [Test]
    public void ResumeThroughTheCommandLineContinuesAndRefusesOtherOptions()
    {
        // Copy the one-epoch run, then ask for a different learning rate: refused, naming --lr.
        foreach (var f in Directory.GetFiles(_run)) File.Copy(f, PathOf(Path.GetFileName(f)));
        var (code, _, err) = Run([.. Tiny, "--out", Dir, "--resume", "--lr", "0.002"]);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--lr"));

        // Same options: the run is already complete; it reports the best mAP and stops.
        var (again, output, err2) = Run([.. Tiny, "--out", Dir, "--resume"]);
        Assert.That(again, Is.Zero, err2);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines[0], Does.StartWith("resuming"));
        Assert.That(lines[^1], Does.StartWith("final mAP: "));
        Assert.That(output, Does.Not.Contain("epoch 1/1"), "no step runs again");
    }

    [Test]
    public void PredictListsTheTopClassesByNameWithTheModelsSigmoidScores()
    {
        // A held-out synthetic image as a PNG file.
        var data = new SyntheticMultiLabel(6, 32) { ValidationImages = 1 };
        var img = data.ValidationBatch(0, 1);
        var png = PathOf("image.png");
        ImageFile.WritePng(png, img.Images, 32, 32);

        var (code, output, err) = Run("predict", "--device", "cpu", "--checkpoint", Checkpoint, "--image", png, "--top", "3");
        Assert.That(code, Is.Zero, err);

        // The expected scores: the checkpoint's model on the decoded file.
        using var ck = MlDecoderCheckpoint.Load(Checkpoint);
        using var model = ck.BuildModel(Device.Cpu);
        model.Eval();
        float[] logits;
        using (Kernels.Nets.Autograd.NoGrad())
        using (TensorScope.Begin())
            logits = model.Forward(Tensor.From<float>(ImageFile.LoadSquished(png, 32), [1, 3, 32, 32])).ToArray<float>();
        var ranked = Enumerable.Range(0, 6).OrderByDescending(c => logits[c]).ThenBy(c => c).ToList();
        var rows = output.Split('\n').Where(l => l.Contains('│') || l.Contains('|')).Skip(1).ToList();
        Assert.That(rows, Has.Count.EqualTo(3), output);
        for (int i = 0; i < 3; i++)
        {
            int c = ranked[i];
            string score = (1 / (1 + Math.Exp(-logits[c]))).ToString("0.0000", CultureInfo.InvariantCulture);
            Assert.That(rows[i], Does.Contain($"{data.ClassNames[c]} ({c})").And.Contain(score), $"rank {i + 1}: " + output);
        }
        Assert.That(output, Does.Not.Contain($"({ranked[3]})"), "only the top 3");
    }

    [TestCase("--image", "/nowhere/cat.jpg", "/nowhere/cat.jpg")]
    [TestCase("--top", "0", "--top")]
    [TestCase("--checkpoint", "/nowhere/ck.safetensors", "/nowhere/ck.safetensors")]
    public void PredictRefusesBadOptionsNamingThem(string option, string value, string named)
    {
        var png = PathOf("image.png");
        ImageFile.WritePng(png, new float[3 * 8 * 8], 8, 8);
        var args = new Dictionary<string, string> { ["--checkpoint"] = Checkpoint, ["--image"] = png, [option] = value };
        var (code, _, err) = Run(["predict", "--device", "cpu", .. args.SelectMany(kv => new[] { kv.Key, kv.Value })]);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain(named));
    }
}
