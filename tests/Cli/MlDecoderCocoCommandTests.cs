using System.Text.Json;
using Kernels.Cli;
using Kernels.Nets.IO;
using Kernels.Tests.Data;
using Kernels.Tests.IO;

namespace Kernels.Tests.Cli;

/// <summary>The ML-Decoder verbs on COCO-style data (the tiny fixture of tests/Data): train
/// with --data coco:&lt;dir&gt;, eval on its val split, predict with the category names.</summary>
public class MlDecoderCocoCommandTests : TempFolderTest
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    [Test]
    public void TrainsEvaluatesAndPredictsOnACocoFolder()
    {
        var coco = CocoFixture.Write(PathOf("coco"));
        var run = PathOf("run");
        string[] train = ["train", "ml-decoder", "--device", "cpu", "--seed", "3", "--data", "coco:" + coco, "--image-size", "32",
            "--epochs", "1", "--steps-per-epoch", "2", "--batch", "2", "--embed-dim", "16", "--feed-forward", "24", "--out", run];
        var (code, output, err) = Run(train);
        Assert.That(code, Is.Zero, err);
        Assert.That(output.TrimEnd().Split('\n')[^1], Does.StartWith("final mAP: "));

        using (var ck = TrainingCheckpoint.Load(Path.Combine(run, "checkpoint.safetensors")))
        {
            Assert.That(ck.Extra["classes"], Is.EqualTo("3"), "the classes are the folder's categories");
            Assert.That(ck.Extra["class_names"], Is.EqualTo("[\"disc\",\"square\",\"bar\"]"));
        }

        var json = PathOf("eval.json");
        (code, output, err) = Run("eval", "ml-decoder", "--device", "cpu", "--checkpoint", Path.Combine(run, "checkpoint.safetensors"),
            "--data", "coco:" + coco, "--json", json);
        Assert.That(code, Is.Zero, err);
        using (var doc = JsonDocument.Parse(File.ReadAllText(json)))
        using (var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json"))))
        {
            Assert.That(doc.RootElement.GetProperty("images").GetInt32(), Is.EqualTo(CocoFixture.ValImages.Length));
            Assert.That(doc.RootElement.GetProperty("map").GetDouble(), Is.EqualTo(metrics.RootElement.GetProperty("map").GetDouble()).Within(1e-9),
                "eval on the val split reproduces the training run's figure");
            Assert.That(doc.RootElement.GetProperty("per_class").EnumerateArray().Select(c => c.GetProperty("class").GetString()),
                Is.EqualTo(new[] { "disc", "square", "bar" }));
        }

        (code, output, err) = Run("predict", "--device", "cpu", "--checkpoint", Path.Combine(run, "checkpoint.safetensors"),
            "--image", Path.Combine(coco, "val2017", CocoFixture.ValImages[0].File), "--top", "3");
        Assert.That(code, Is.Zero, err);
        foreach (var name in new[] { "disc (0)", "square (1)", "bar (2)" }) Assert.That(output, Does.Contain(name));

        // Resuming on other data or with other augmentation is refused, naming the option.
        var other = CocoFixture.Write(PathOf("coco2"));
        (code, _, err) = Run([.. train[..7], "coco:" + other, .. train[8..], "--resume"]);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--data"));
        (code, _, err) = Run([.. train, "--resume", "--augment", "cutout"]);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--augment"));
    }

    [Test]
    public void ClassesThatDisagreeWithTheFolderAreRefused()
    {
        var coco = CocoFixture.Write(PathOf("coco"));
        var (code, _, err) = Run("train", "ml-decoder", "--device", "cpu", "--data", "coco:" + coco, "--classes", "5", "--image-size", "32",
            "--epochs", "1", "--steps-per-epoch", "1", "--batch", "2", "--out", PathOf("run"));
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--classes 5").And.Contain("3 categories"));
    }
}
