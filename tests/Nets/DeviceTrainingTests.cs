using Kernels.Ilgpu;
using Kernels.Nets;
using Kernels.Nets.Data;
using Kernels.Nets.Losses;
using Kernels.Nets.Models.Backbones;
using Kernels.Nets.Models.Lits;
using Kernels.Nets.Models.MlDecoder;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using Kernels.Nets.Training;

namespace Kernels.Tests.Networks;

/// <summary>The two real systems, built small, taking training steps the way their trainers do
/// (ML-Decoder: synthetic batches, ASL, Adam with decay groups, OneCycle, EMA; U-Net: Dice + CE,
/// AdamW, cosine decay) on any device. Shared by the ilgpu-cpu tests here and the cuda tests in
/// tests/Gpu: both compare the device's run with the cpu's from identical weights.</summary>
public static class DeviceTraining
{
    /// <summary>One model and everything its trainer steps with, on one device.</summary>
    public interface ISteps : IDisposable
    {
        Module Model { get; }
        /// <summary>The largest learning rate of the schedule (bounds Adam's move per step).</summary>
        double MaxLr { get; }
        /// <summary>One training step; returns the loss.</summary>
        double Step();
        /// <summary>The state a step must update alike on every device: weights, buffers, EMA.</summary>
        Dictionary<string, float[]> State();
        /// <summary>Copies the model's and the optimizer's whole state from <paramref name="source"/>
        /// (same model on another device), so the next step starts from identical values.</summary>
        void CopyStateFrom(ISteps source) => throw new NotSupportedException($"{GetType().Name} cannot copy state");
    }

    /// <summary>TinyTResNet (widths 4, 8: 16 tokens of 8 channels at 32 px) + an ML-Decoder head
    /// (K 3 queries of 2 classes for N 5, D 16, 2 heads, FFN 24, dropout 0.1 from a seeded
    /// generator) or the pooling head; <paramref name="smallest"/>: one backbone stage of width 4
    /// (64 tokens), K 2 for N 3, D 8, 1 head, FFN 8, batch 1. With either head, the trainer's ASL, Adam (decay / no-decay groups),
    /// OneCycle (20% warm-up) and EMA with warm-up. Weights come from <see cref="Rng.Seed"/>(5)
    /// on the cpu and move with Module.To, so every device starts from the same numbers.</summary>
    public sealed class MlDecoderSteps : ISteps
    {
        public const int Image = 32;
        private readonly Device _device;
        private readonly MultiLabelClassifier _model;
        private readonly ModelEma _ema;
        private readonly Adam _opt;
        private readonly OneCycleLR _sched;
        private readonly AsymmetricLoss _loss = new();
        private readonly SyntheticMultiLabel _data;
        private readonly Rng _dataRng = new(11);
        private readonly int _batch;

        public MlDecoderSteps(Device device, string head = "ml-decoder", int batch = 2, int totalSteps = 10, bool smallest = false)
        {
            _device = device;
            _batch = smallest ? 1 : batch;
            int classes = smallest ? 3 : 5;
            _data = new SyntheticMultiLabel(classes, Image) { ValidationImages = 4 };
            Rng.Seed(5);
            var body = new TinyTResNet(widths: smallest ? [4] : [4, 8]);
            ClassifierHead h = head == "gap"
                ? new GapHead(body.OutChannels, classes)
                : smallest
                    ? new MlDecoderHead(body.OutChannels, classes, groups: 2, embedDim: 8, heads: 1, feedForward: 8, dropout: 0.1, rng: new Rng(21))
                    : new MlDecoderHead(body.OutChannels, classes, groups: 3, embedDim: 16, heads: 2, feedForward: 24, dropout: 0.1, rng: new Rng(21));
            _model = new MultiLabelClassifier(body, h);
            _model.To(device);
            _model.Train();
            _ema = new ModelEma(_model, 0.9997, warmup: true);
            _opt = new Adam(ParamGroup.DecayAndNoDecay(_model, 1e-4), lr: 1e-3);
            _sched = new OneCycleLR(_opt, maxLr: 1e-3, totalSteps: totalSteps, pctStart: 0.2);
        }

        public Module Model => _model;
        public double MaxLr => 1e-3;
        public ModelEma Ema => _ema;
        public TrainingRun Run => new(_model, _opt, _sched, _ema, _dataRng);

        /// <summary>Weights, buffers, EMA and the optimizer's state (moments), for checkpoint round trips.</summary>
        public Dictionary<string, float[]> FullState()
        {
            var s = State();
            foreach (var (name, t) in _opt.StateDict().Tensors)
                if (t.DType == DType.F32) s["opt." + name] = t.ToArray<float>();
            return s;
        }

        public double Step()
        {
            using var scope = TensorScope.Begin();
            var (x, y) = _data.TrainBatch(_batch, _dataRng, _device);
            var l = _loss.Forward(_model.Forward(x), y);
            _opt.ZeroGrad();
            l.Backward();
            _opt.Step();
            _sched.Step();
            _ema.Update(_model);
            return l.Item();
        }

        public Dictionary<string, float[]> State()
        {
            var s = _model.StateDict().Where(kv => kv.Value.DType == DType.F32).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
            foreach (var (name, t) in _ema.State)
                if (t.DType == DType.F32) s["ema." + name] = t.ToArray<float>();
            return s;
        }

        public void Dispose()
        {
            _opt.Dispose();
            _ema.Dispose();
            _model.Dispose();
        }
    }

    /// <summary>A 3-D U-Net of depth 2, base width 4 (instance or batch norm, strided conv or max
    /// pooling down) on 8×16×16 patches (2-D: 16×16) of random intensities with labels of 3 classes
    /// that follow them, the trainer's Dice + CE (batch Dice), AdamW and cosine decay. Batch 1
    /// (batch norm: 2, the trainer's minimum for it). <paramref name="smallest"/>: depth 1, width 2,
    /// 4×8×8.</summary>
    public sealed class UNetSteps : ISteps
    {
        private readonly UNet _net;
        private readonly AdamW _opt;
        private readonly CosineAnnealingLR _sched;
        private readonly DiceCeLoss _loss = new(batchDice: true);
        private readonly Tensor _x, _y;

        public UNetSteps(Device device, UNetNorm norm, UNetDownsampling down, int dims = 3, int totalSteps = 10, bool smallest = false)
        {
            Rng.Seed(7);
            var cfg = new UNetConfig
            {
                Dims = dims, InChannels = 1, Classes = 3, BaseWidth = smallest ? 2 : 4, Depth = smallest ? 1 : 2, Norm = norm, Down = down,
            };
            _net = new UNet(cfg);
            _net.To(device);
            _net.Train();
            _opt = new AdamW(_net.Parameters(), lr: 3e-3, weightDecay: 1e-5);
            _sched = new CosineAnnealingLR(_opt, totalSteps, 3e-3 * 0.02);
            int n = norm == UNetNorm.Batch ? 2 : 1;
            int[] spatial = (dims, smallest) switch
            {
                (3, false) => [8, 16, 16],
                (3, true) => [4, 8, 8],
                (_, false) => [16, 16],
                _ => [8, 8],
            };
            long voxels = spatial.Aggregate(1L, (a, b) => a * b) * n;
            var rng = new Rng(13);
            var xs = new double[voxels];
            rng.FillNormal(xs, 0, 1);
            var labels = new int[voxels];
            // Labels that follow the intensity a little, so the loss has something to learn.
            for (long i = 0; i < voxels; i++) labels[i] = xs[i] > 0.8 ? 2 : xs[i] > -0.3 ? 1 : 0;
            using (TensorScope.Suspend())
            {
                using var xCpu = Tensor.FromHost(xs, [n, 1, .. spatial]);
                using var yCpu = Tensor.FromArray(labels, [n, .. spatial]);
                _x = xCpu.To(device);
                _y = yCpu.To(device);
            }
        }

        public Module Model => _net;
        public double MaxLr => 3e-3;

        public void CopyStateFrom(ISteps source)
        {
            var from = (UNetSteps)source;
            _net.LoadStateDict(from._net.StateDict());
            _opt.LoadStateDict(from._opt.StateDict());
        }

        public double Step()
        {
            using var scope = TensorScope.Begin();
            var l = _loss.Forward(_net.Forward(_x), _y);
            _opt.ZeroGrad();
            l.Backward();
            _opt.Step();
            _sched.Step();
            return l.Item();
        }

        public Dictionary<string, float[]> State() =>
            _net.StateDict().Where(kv => kv.Value.DType == DType.F32).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());

        public void Dispose()
        {
            _opt.Dispose();
            _net.Dispose();
            _x.Dispose();
            _y.Dispose();
        }
    }

    /// <summary>The parameters' gradients of the last step, by name.</summary>
    public static Dictionary<string, float[]> Grads(Module model) =>
        model.NamedParameters().Where(p => p.Parameter.Grad is not null)
            .ToDictionary(p => p.Name, p => p.Parameter.Grad!.ToArray<float>());

    /// <summary>Runs <paramref name="steps"/> steps on the cpu and on <paramref name="device"/>
    /// from the same weights and checks, after every step, the loss (relative 1e-3) and each
    /// gradient tensor (largest difference within 1% of the tensor's largest gradient, plus 1e-6 of
    /// the largest gradient of the model), and at the end every float state tensor (weights,
    /// buffers, EMA): each entry within 2e-4 + 2e-3·|cpu| or, for the tensor as a whole, the largest
    /// difference within 1e-4 + 5% of the largest move. A weight whose true gradient is zero (a
    /// conv bias before instance or batch norm, which the norm removes; the attention's key bias,
    /// which the softmax removes) gets float32 noise as its gradient on both devices, and Adam's
    /// normalised step turns noise of any size into a move of up to lr per step, in a direction
    /// that differs between devices: such entries (cpu gradient below 1e-5 of the model's largest
    /// at every step) are only held to that bound, in the weights and in their EMA.
    /// With <paramref name="resync"/>, the device copies the cpu's model and optimizer state before
    /// every step after the first, so each step is compared from identical values (and the final
    /// weights against the last step's move): float32 differences in summation order then cannot
    /// compound through Adam's sign-like first steps, which on a real GPU (other kernels, other
    /// orders) moved a batch-norm U-Net's step-2 gradients apart by 1.3% of their largest entry.</summary>
    public static void CompareWithCpu(Func<Device, ISteps> make, Device device, int steps, bool resync = false)
    {
        using var onCpu = make(Device.Cpu);
        using var onDev = make(device);
        double maxLr = onCpu.MaxLr;
        Assert.That(onDev.Model.Parameters().Concat(onDev.Model.Buffers()).All(t => ReferenceEquals(t.Device, device)),
            $"the model is not on {device.Name}");
        var before = onCpu.State();
        var startDev = onDev.State();
        foreach (var (name, c) in before)
            Assert.That(startDev[name], Is.EqualTo(c), $"{name} differs before training");
        Dictionary<string, bool[]>? zeroGrad = null;
        for (int s = 0; s < steps; s++)
        {
            if (resync && s > 0)
            {
                onDev.CopyStateFrom(onCpu);
                before = onCpu.State();
            }
            double lc = onCpu.Step(), ld = onDev.Step();
            TestContext.Out.WriteLine($"step {s + 1}: loss cpu {lc:R}, {device.Name} {ld:R}");
            Assert.That(double.IsFinite(ld), $"step {s + 1}: the {device.Name} loss is {ld}");
            Assert.That(ld, Is.EqualTo(lc).Within(1e-3 * Math.Abs(lc) + 1e-5), $"step {s + 1}: loss");
            var gc = Grads(onCpu.Model);
            var gd = Grads(onDev.Model);
            Assert.That(gd.Keys, Is.EquivalentTo(gc.Keys), $"step {s + 1}: parameters with gradients");
            double top = gc.Values.Max(g => g.Max(v => Math.Abs(v)));
            Assert.That(top, Is.GreaterThan(0), "every gradient is zero");
            zeroGrad ??= gc.ToDictionary(kv => kv.Key, kv => Enumerable.Repeat(true, kv.Value.Length).ToArray());
            foreach (var (name, c) in gc)
            {
                var g = gd[name];
                double scale = c.Max(v => Math.Abs(v)), maxDiff = 0;
                var zero = zeroGrad[name];
                for (int i = 0; i < c.Length; i++)
                {
                    maxDiff = Math.Max(maxDiff, Math.Abs(c[i] - g[i]));
                    if (!(Math.Abs(c[i]) < 1e-5 * top)) zero[i] = false;
                }
                Assert.That(maxDiff, Is.LessThanOrEqualTo(1e-2 * scale + 1e-6 * top),
                    $"step {s + 1}: gradient of {name}: cpu and {device.Name} differ by {maxDiff:0.0e0} (largest cpu gradient {scale:0.0e0})");
            }
        }
        var cpu = onCpu.State();
        var dev = onDev.State();
        Assert.That(dev.Keys, Is.EquivalentTo(cpu.Keys));
        bool anyMoved = false;
        foreach (var (name, c) in cpu)
        {
            var g = dev[name];
            var b = before[name];
            double maxDiff = 0, maxMove = 0, zeroDiff = 0;
            int worst = 0, zeros = 0;
            bool allClose = true;
            bool[]? zero = null;
            zeroGrad?.TryGetValue(name.StartsWith("ema.", StringComparison.Ordinal) ? name[4..] : name, out zero);
            for (int i = 0; i < c.Length; i++)
            {
                double d = Math.Abs(c[i] - g[i]);
                if (zero is not null && zero[i])
                {
                    zeros++;
                    zeroDiff = Math.Max(zeroDiff, d);
                    continue;
                }
                if (!(d <= 2e-4 + 2e-3 * Math.Abs(c[i]))) allClose = false;
                if (!(d <= maxDiff)) { maxDiff = d; worst = i; }
                maxMove = Math.Max(maxMove, Math.Abs(c[i] - b[i]));
            }
            if (maxMove > 0) anyMoved = true;
            if (zeros > 0)
            {
                if (zeroDiff > 0)
                    TestContext.Out.WriteLine($"{name}: {zeros} of {c.Length} entries with a zero true gradient; cpu and {device.Name} differ there by {zeroDiff:0.0e0}");
                Assert.That(zeroDiff, Is.LessThanOrEqualTo(2 * steps * maxLr * 1.01 + 1e-6), $"{name}: a zero-gradient entry moved further than Adam can move it");
            }
            Assert.That(allClose || maxDiff <= 1e-4 + 0.05 * maxMove,
                $"{name}: cpu and {device.Name} differ by {maxDiff:0.0e0} at [{worst}] (cpu {c[worst]}, device {g[worst]}); the cpu moved it by at most {maxMove:0.0e0}");
        }
        Assert.That(anyMoved, "no weight moved");
    }

    /// <summary>Live bytes and buffers of <paramref name="device"/> after step <paramref name="first"/>
    /// and after step <paramref name="last"/> (the steps in between allocate and free the same).</summary>
    public static (long Bytes, long Buffers, long BytesLater, long BuffersLater) MemoryAcrossSteps(ISteps steps, Device device, int first, int last)
    {
        for (int s = 0; s < first; s++) steps.Step();
        device.Synchronize();
        long bytes = device.Memory.AllocatedBytes, buffers = device.Memory.LiveBuffers;
        for (int s = first; s < last; s++) steps.Step();
        device.Synchronize();
        return (bytes, buffers, device.Memory.AllocatedBytes, device.Memory.LiveBuffers);
    }
}

/// <summary>The ML-Decoder and the 3-D U-Net train on ilgpu-cpu (every family's ILGPU kernels,
/// the code cuda runs as PTX, through the same dispatch, allocation and Module.To) to the cpu's
/// losses and weights, hold device memory flat across steps, and train end to end from the
/// command line. The cuda twins are in tests/Gpu/ModelTrainingGpuTests.cs.</summary>
public class DeviceTrainingTests
{
    private static Device Il => IlgpuCpuDevice.Instance;

    // The default run's check: one step of the smallest ML-Decoder (ilgpu-cpu simulates every GPU
    // thread and each launch costs milliseconds, so even this takes seconds); the rest is Slow.
    [Test]
    public void SmallestMlDecoderStepOnIlgpuCpuMatchesTheCpu() =>
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.MlDecoderSteps(d, smallest: true), Il, 1);

    [Test, Category("Slow")]
    public void SmallestUNet3dStepOnIlgpuCpuMatchesTheCpu() =>
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.UNetSteps(d, UNetNorm.Instance, UNetDownsampling.StridedConv, smallest: true), Il, 1);

    [Test, Category("Slow")]
    public void MlDecoderThreeStepsOnIlgpuCpuMatchTheCpu() =>
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.MlDecoderSteps(d, batch: 3), Il, 3);

    [Test, Category("Slow")]
    public void GapHeadThreeStepsOnIlgpuCpuMatchTheCpu() =>
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.MlDecoderSteps(d, "gap"), Il, 3);

    [Test]
    public void CopyStateFromGivesTheSameStateAndTheSameNextStep()
    {
        // The resync mode of the cuda U-Net tests: one model two steps ahead of another hands over
        // its model and optimizer state (weights, running statistics, Adam moments, step counts).
        using var ahead = new DeviceTraining.UNetSteps(Device.Cpu, UNetNorm.Batch, UNetDownsampling.MaxPool, smallest: true);
        using var behind = new DeviceTraining.UNetSteps(Device.Cpu, UNetNorm.Batch, UNetDownsampling.MaxPool, smallest: true);
        ahead.Step();
        ahead.Step();
        behind.Step();
        behind.CopyStateFrom(ahead);
        var a = ahead.State();
        var b = behind.State();
        Assert.That(b.Keys, Is.EquivalentTo(a.Keys));
        foreach (var (name, v) in a) Assert.That(b[name], Is.EqualTo(v), $"{name} after CopyStateFrom");
        Assert.That(behind.Step(), Is.EqualTo(ahead.Step()), "the step after the copy");
        foreach (var (name, v) in ahead.State()) Assert.That(behind.State()[name], Is.EqualTo(v), $"{name} one step after the copy");
    }

    [Test, Category("Slow")]
    public void SmallestBatchNormUNetStepwiseOnIlgpuCpuMatchesTheCpu() =>
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.UNetSteps(d, UNetNorm.Batch, UNetDownsampling.MaxPool, smallest: true), Il, 2, resync: true);

    [TestCase(UNetNorm.Instance, UNetDownsampling.StridedConv)]
    [TestCase(UNetNorm.Instance, UNetDownsampling.MaxPool)]
    [TestCase(UNetNorm.Batch, UNetDownsampling.StridedConv)]
    [TestCase(UNetNorm.Batch, UNetDownsampling.MaxPool)]
    [Category("Slow")]
    public void UNet3dTwoStepsOnIlgpuCpuMatchTheCpu(UNetNorm norm, UNetDownsampling down) =>
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.UNetSteps(d, norm, down), Il, 2);

    [TestCase(UNetNorm.Instance, UNetDownsampling.StridedConv)]
    [TestCase(UNetNorm.Batch, UNetDownsampling.MaxPool)]
    [Category("Slow")]
    public void UNet2dTwoStepsOnIlgpuCpuMatchTheCpu(UNetNorm norm, UNetDownsampling down) =>
        DeviceTraining.CompareWithCpu(d => new DeviceTraining.UNetSteps(d, norm, down, dims: 2), Il, 2);

    [Test, Category("Slow")]
    public void MlDecoderHoldsIlgpuCpuMemoryFlatFromStep3ToStep10()
    {
        using var steps = new DeviceTraining.MlDecoderSteps(Il, totalSteps: 10, smallest: true);
        AssertFlat(DeviceTraining.MemoryAcrossSteps(steps, Il, 3, 10));
    }

    [Test, Category("Slow")]
    public void UNetHoldsIlgpuCpuMemoryFlatFromStep3ToStep10()
    {
        using var steps = new DeviceTraining.UNetSteps(Il, UNetNorm.Batch, UNetDownsampling.MaxPool, totalSteps: 10, smallest: true);
        AssertFlat(DeviceTraining.MemoryAcrossSteps(steps, Il, 3, 10));
    }

    /// <summary>A training checkpoint written from ilgpu-cpu tensors (weights, Adam moments, EMA)
    /// loads on the cpu and back onto ilgpu-cpu with every number intact.</summary>
    [Test, Category("Slow")]
    public void CheckpointWrittenOnIlgpuCpuLoadsOnTheCpuAndOnIlgpuCpu()
    {
        var path = Path.Combine(Path.GetTempPath(), $"kernels-devtrain-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var onIl = new DeviceTraining.MlDecoderSteps(Il, smallest: true);
            onIl.Step();
            onIl.Run.Save(path);
            var saved = onIl.FullState();
            Assert.That(saved.Keys.Count(k => k.StartsWith("opt.", StringComparison.Ordinal)), Is.GreaterThan(0), "no optimizer state saved");
            foreach (var device in new[] { Device.Cpu, Il })
            {
                using var fresh = new DeviceTraining.MlDecoderSteps(device, smallest: true);
                fresh.Run.Load(path);
                var loaded = fresh.FullState();
                Assert.That(loaded.Keys, Is.EquivalentTo(saved.Keys), device.Name);
                foreach (var (name, v) in saved)
                    Assert.That(loaded[name], Is.EqualTo(v), $"{name} on {device.Name}");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void AssertFlat((long Bytes, long Buffers, long BytesLater, long BuffersLater) m)
    {
        TestContext.Out.WriteLine($"ilgpu-cpu live after step 3: {m.Bytes} B in {m.Buffers} buffers; after step 10: {m.BytesLater} B in {m.BuffersLater}");
        Assert.That(m.Bytes, Is.GreaterThan(0));
        Assert.That(m.BytesLater, Is.EqualTo(m.Bytes), "live device bytes grew");
        Assert.That(m.BuffersLater, Is.EqualTo(m.Buffers), "live device buffers grew");
    }
}

/// <summary>`kernels train ml-decoder | unet3d | unet2d --device ilgpu-cpu` at tiny sizes, in
/// process: exit 0, the files every run writes, a finite loss, the last line. Slow: ilgpu-cpu
/// simulates every GPU thread of every step and of the validation passes.</summary>
[Category("Slow")]
public class DeviceTrainingCommandTests : Kernels.Tests.IO.TempFolderTest
{
    /// <summary>The command's arguments for a tiny run of <paramref name="what"/> on <paramref name="device"/>.</summary>
    public static string[] Tiny(string what, string device, string outDir) => what switch
    {
        "ml-decoder" or "gap" =>
        [
            "train", "ml-decoder", "--device", device, "--seed", "2", "--classes", "4", "--image-size", "32", "--epochs", "1",
            "--steps-per-epoch", "2", "--batch", "2", "--embed-dim", "16", "--feed-forward", "16", "--val-images", "4",
            "--head", what, "--out", outDir,
        ],
        "unet3d" =>
        [
            "train", "unet3d", "--device", device, "--seed", "2", "--size", "16,16,8", "--cases", "1", "--val-cases", "1",
            "--epochs", "1", "--steps-per-epoch", "2", "--batch", "1", "--width", "2", "--depth", "1", "--patch", "8,16,16",
            "--out", outDir,
        ],
        "unet2d" =>
        [
            "train", "unet2d", "--device", device, "--seed", "2", "--size", "16,16,8", "--cases", "1", "--val-cases", "1",
            "--epochs", "1", "--steps-per-epoch", "2", "--batch", "2", "--width", "2", "--depth", "1", "--patch", "16,16",
            "--out", outDir,
        ],
        _ => throw new ArgumentException(what),
    };

    /// <summary>Runs the tiny command and checks what every training command promises.</summary>
    public static string RunAndCheck(string what, string device, string outDir)
    {
        var (code, output, err) = Support.CliRun.Run(Tiny(what, device, outDir));
        TestContext.Out.WriteLine(output);
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Contain($" on {device}"), "the run names the device it trains on");
        foreach (var f in new[] { "checkpoint.safetensors", "metrics.json", "curves.png" })
            Assert.That(File.Exists(Path.Combine(outDir, f)), $"{f} was not written");
        using var metrics = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")));
        var epochs = metrics.RootElement.GetProperty("epochs");
        Assert.That(epochs.GetArrayLength(), Is.EqualTo(1));
        double loss = epochs[0].GetProperty("loss").GetDouble();
        Assert.That(double.IsFinite(loss) && loss > 0, $"loss {loss}");
        return output;
    }

    [TestCase("ml-decoder"), TestCase("gap")]
    public void TrainMlDecoderOnIlgpuCpu(string head)
    {
        var output = RunAndCheck(head, "ilgpu-cpu", Dir);
        var last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
        Assert.That(last, Does.StartWith("final mAP: "));
        double map = double.Parse(last["final mAP: ".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(map, Is.InRange(0.0, 100.0));
    }

    [TestCase("unet3d"), TestCase("unet2d")]
    public void TrainUNetOnIlgpuCpu(string what) => RunAndCheck(what, "ilgpu-cpu", Dir);
}
