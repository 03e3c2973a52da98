using System.Buffers.Binary;
using System.Text.Json;
using Kernels.Nets;
using Kernels.Nets.Imaging;
using Kernels.Nets.IO;
using Kernels.Nets.Models.MlDecoder;
using Kernels.Nets.Training;
using Kernels.Tests.IO;

namespace Kernels.Tests.MlDecoder;

/// <summary>What an ML-Decoder training run leaves in --out: last.safetensors and --resume (a
/// resumed run equals an uninterrupted one), curves.png, metrics.json.</summary>
public class TrainingRunFilesTests : TempFolderTest
{
    // Tiny: 6 classes, 32 px, a narrow decoder, 3 epochs of 2 steps of 2 images, 12 held-out images.
    private static readonly MlDecoderTrainOptions Tiny = new()
    {
        Classes = 6, ImageSize = 32, EmbedDim = 32, FeedForward = 48, Epochs = 3, StepsPerEpoch = 2, Batch = 2,
        ValidationImages = 12, Seed = 5,
    };

    /// <summary>Records the lines; cancels the run when it reaches the given epoch.</summary>
    private sealed class Recorder(CancellationTokenSource? stopAt = null, int stopEpoch = 0) : ITrainingProgress
    {
        public List<string> Lines { get; } = [];
        public List<TrainingStep> Steps { get; } = [];

        public void Step(in TrainingStep step)
        {
            Steps.Add(step);
            if (stopAt is not null && step.Epoch == stopEpoch) stopAt.Cancel();
        }

        public void Line(string text) => Lines.Add(text);
    }

    private static float[] Floats(TrainingState s, string name) => s.Tensors[name].ToArray<float>();

    [Test]
    public void ResumingAfterAnInterruptionGivesTheUninterruptedRunBitForBit()
    {
        var straightDir = PathOf("straight");
        var straight = new MlDecoderTrainer(Tiny, Device.Cpu, _ => { }) { Progress = new Recorder() }.Run(straightDir);

        // The same run stopped during epoch 3 (after its first step), then resumed.
        var dir = PathOf("resumed");
        using var stop = new CancellationTokenSource();
        var first = new MlDecoderTrainer(Tiny, Device.Cpu, _ => { }) { Progress = new Recorder(stop, 3) }.Run(dir, stop.Token);
        Assert.That(first.Epochs, Has.Count.EqualTo(2), "stopped with two finished epochs");
        using (var mid = TrainingCheckpoint.Load(Path.Combine(dir, MlDecoderTrainer.LastFile)))
            Assert.That(mid.Epoch, Is.EqualTo(2), "last.safetensors holds the last finished epoch, not the interrupted one");

        var recorder = new Recorder();
        var resumed = new MlDecoderTrainer(Tiny, Device.Cpu, _ => { }) { Progress = recorder, Resume = true }.Run(dir);
        Assert.That(recorder.Steps.Select(s => s.Epoch).Distinct(), Is.EqualTo(new[] { 3 }), "only epoch 3 runs again");
        Assert.That(recorder.Steps[0].Done, Is.EqualTo(2 * Tiny.StepsPerEpoch + 1));

        Assert.That(resumed.BestMap, Is.EqualTo(straight.BestMap));
        Assert.That(resumed.Epochs, Has.Count.EqualTo(3));
        for (int i = 0; i < 3; i++)
        {
            Assert.That(resumed.Epochs[i].Loss, Is.EqualTo(straight.Epochs[i].Loss), $"loss of epoch {i + 1}");
            Assert.That(resumed.Epochs[i].Map, Is.EqualTo(straight.Epochs[i].Map), $"mAP of epoch {i + 1}");
            Assert.That(resumed.Epochs[i].MapEma, Is.EqualTo(straight.Epochs[i].MapEma), $"EMA mAP of epoch {i + 1}");
        }

        using var a = TrainingCheckpoint.Load(Path.Combine(straightDir, MlDecoderTrainer.LastFile));
        using var b = TrainingCheckpoint.Load(Path.Combine(dir, MlDecoderTrainer.LastFile));
        Assert.That(b.Step, Is.EqualTo(a.Step));
        Assert.That(b.RngState, Is.EqualTo(a.RngState));
        Assert.That(b.Model.Tensors.Keys, Is.EqualTo(a.Model.Tensors.Keys));
        foreach (var name in a.Model.Tensors.Keys.Where(k => a.Model.Tensors[k].DType == DType.F32))
        {
            Assert.That(Floats(b.Model, name), Is.EqualTo(Floats(a.Model, name)), "model " + name);
            Assert.That(Floats(b.Ema!, name), Is.EqualTo(Floats(a.Ema!, name)), "EMA " + name);
        }
        foreach (var name in a.Optimizer!.Tensors.Keys)
            Assert.That(Floats(b.Optimizer!, name), Is.EqualTo(Floats(a.Optimizer!, name)), "optimizer " + name);

        // metrics.json of the resumed run lists all three epochs and the same best.
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, MlDecoderTrainer.MetricsFile)));
        Assert.That(metrics.RootElement.GetProperty("epochs").GetArrayLength(), Is.EqualTo(3));
        Assert.That(metrics.RootElement.GetProperty("map").GetDouble(), Is.EqualTo(straight.BestMap));
    }

    [Test]
    public void ResumeRefusesOtherOptionsNamingTheOption()
    {
        var o = Tiny with { Epochs = 1 };
        new MlDecoderTrainer(o, Device.Cpu, _ => { }) { Progress = new Recorder() }.Run(Dir);
        var e = Assert.Throws<ArgumentException>(() =>
            new MlDecoderTrainer(o with { Lr = 2e-3 }, Device.Cpu, _ => { }) { Progress = new Recorder(), Resume = true }.Run(Dir));
        Assert.That(e!.Message, Does.Contain("--lr").And.Contain("0.001").And.Contain("0.002"));
        var b = Assert.Throws<ArgumentException>(() =>
            new MlDecoderTrainer(o with { Batch = 5 }, Device.Cpu, _ => { }) { Progress = new Recorder(), Resume = true }.Run(Dir));
        Assert.That(b!.Message, Does.Contain("--batch"));
    }

    [Test]
    public void ResumeWithoutAStateSaysSo()
    {
        var e = Assert.Throws<FileNotFoundException>(() =>
            new MlDecoderTrainer(Tiny, Device.Cpu, _ => { }) { Progress = new Recorder(), Resume = true }.Run(Dir));
        Assert.That(e!.Message, Does.Contain("last.safetensors"));
    }

    [Test]
    public void EveryEpochWritesCurvesMetricsAndProgress()
    {
        var o = Tiny with { Epochs = 2 };
        var recorder = new Recorder();
        var (epochs, best) = new MlDecoderTrainer(o, Device.Cpu, _ => { }) { Progress = recorder }.Run(Dir);

        var (w, h) = PngSize(File.ReadAllBytes(PathOf(MlDecoderTrainer.CurvesFile)));
        Assert.That((w, h), Is.EqualTo((Curves.DefaultWidth, Curves.DefaultHeight)));

        using var metrics = JsonDocument.Parse(File.ReadAllText(PathOf(MlDecoderTrainer.MetricsFile)));
        var rows = metrics.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        Assert.That(rows, Has.Count.EqualTo(2));
        for (int i = 0; i < 2; i++)
        {
            Assert.That(rows[i].GetProperty("epoch").GetInt32(), Is.EqualTo(i + 1));
            Assert.That(rows[i].GetProperty("loss").GetDouble(), Is.EqualTo(epochs[i].Loss));
            Assert.That(rows[i].GetProperty("map").GetDouble(), Is.EqualTo(epochs[i].Map));
            Assert.That(rows[i].GetProperty("map_ema").GetDouble(), Is.EqualTo(epochs[i].MapEma));
        }
        Assert.That(metrics.RootElement.GetProperty("map").GetDouble(), Is.EqualTo(best));

        // A progress report per step, counting up through the run, with a throughput and an ETA.
        Assert.That(recorder.Steps.Select(s => s.Done), Is.EqualTo(Enumerable.Range(1, 4).Select(i => (long)i)));
        Assert.That(recorder.Steps.All(s => s.ImagesPerSecond > 0 && s.Eta >= TimeSpan.Zero && s.Total == 4));
        Assert.That(recorder.Steps[^1].Eta, Is.EqualTo(TimeSpan.Zero));
        Assert.That(recorder.Lines.Count(l => l.StartsWith("epoch ", StringComparison.Ordinal)), Is.EqualTo(2));
        Assert.That(TempFiles(), Is.Empty);
    }

    [Test]
    public void ACurvesFailureIsOneWarningAndTrainingGoesOn()
    {
        // A folder where the picture should go: writing it fails every epoch.
        Directory.CreateDirectory(PathOf(MlDecoderTrainer.CurvesFile));
        var recorder = new Recorder();
        var (epochs, _) = new MlDecoderTrainer(Tiny with { Epochs = 1 }, Device.Cpu, _ => { }) { Progress = recorder }.Run(Dir);
        Assert.That(epochs, Has.Count.EqualTo(1));
        Assert.That(recorder.Lines.Where(l => l.StartsWith("warning: could not write curves.png", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1));
        Assert.That(File.Exists(PathOf(MlDecoderTrainer.BestFile)) && File.Exists(PathOf(MlDecoderTrainer.LastFile)));
    }

    /// <summary>Width and height from a PNG's IHDR chunk, after checking the signature.</summary>
    internal static (int Width, int Height) PngSize(byte[] png)
    {
        Assert.That(png.Length, Is.GreaterThan(33));
        Assert.That(png[..8], Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "PNG signature");
        Assert.That(System.Text.Encoding.ASCII.GetString(png, 12, 4), Is.EqualTo("IHDR"));
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }
}
