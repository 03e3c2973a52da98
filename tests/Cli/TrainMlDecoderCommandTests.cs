using System.Text.Json;
using Kernels.Cli;
using Kernels.Nets.IO;
using Kernels.Tests.IO;

namespace Kernels.Tests.Cli;

/// <summary>`kernels train ml-decoder` in-process on the cpu at a tiny size: what it writes and
/// prints, and its errors for bad options.</summary>
public class TrainMlDecoderCommandTests : TempFolderTest
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    private static readonly string[] Tiny =
        ["train", "ml-decoder", "--device", "cpu", "--seed", "2", "--classes", "6", "--image-size", "32", "--epochs", "2",
         "--steps-per-epoch", "2", "--batch", "4", "--embed-dim", "32", "--feed-forward", "48", "--val-images", "32"];

    [TestCase("ml-decoder"), TestCase("gap")]
    public void WritesBestCheckpointMetricsAndEndsWithTheFinalMap(string head)
    {
        var (code, output, err) = Run([.. Tiny, "--head", head, "--out", Dir]);
        Assert.That(code, Is.Zero, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines[^1], Does.StartWith("final mAP: "));
        double printed = double.Parse(lines[^1]["final mAP: ".Length..], System.Globalization.CultureInfo.InvariantCulture);

        using var metrics = JsonDocument.Parse(File.ReadAllText(PathOf("metrics.json")));
        var epochs = metrics.RootElement.GetProperty("epochs");
        Assert.That(epochs.GetArrayLength(), Is.EqualTo(2));
        double best = metrics.RootElement.GetProperty("map").GetDouble();
        Assert.That(best, Is.InRange(0.0, 100.0));
        Assert.That(printed, Is.EqualTo(best).Within(0.005));
        double maxEpoch = epochs.EnumerateArray().Max(e => Math.Max(e.GetProperty("map").GetDouble(), e.GetProperty("map_ema").GetDouble()));
        Assert.That(best, Is.EqualTo(maxEpoch), "the reported mAP is the best of model and EMA over the epochs");

        using var c = TrainingCheckpoint.Load(PathOf("checkpoint.safetensors"));
        Assert.That(c.Extra["head"], Is.EqualTo(head));
        Assert.That(double.Parse(c.Extra["map"], System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(best));
        Assert.That(Directory.GetFiles(Dir, "*.tmp*"), Is.Empty);
    }

    [TestCase("--head", "linear", "--head")]
    [TestCase("--backbone", "vgg", "--backbone")]
    [TestCase("--image-size", "40", "--image-size")]
    [TestCase("--data", "coco:/nowhere", "--data")]
    [TestCase("--classes", "0", "--classes")]
    [TestCase("--lr", "-1", "--lr")]
    [TestCase("--embed-dim", "30", "--embed-dim")]
    public void RefusesBadOptionsNamingThem(string option, string value, string named)
    {
        var (code, _, err) = Run([.. Tiny, option, value, "--out", Dir]);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain(named));
    }
}
