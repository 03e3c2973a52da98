using Kernels.Nets;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Networks;

/// <summary>End-to-end: small models learn synthetic tasks with the modules, losses, optimizers
/// and schedules together; a long loop of training steps does not grow memory.</summary>
public class TrainingTests
{
    /// <summary>Two interleaved spirals (class 0 and 1), n points each, with a little noise.</summary>
    private static (Tensor X, Tensor Y) Spirals(int n, Rng rng)
    {
        var x = new double[2 * n * 2];
        var y = new int[2 * n];
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < n; i++)
            {
                double r = (i + 1.0) / n, t = 1.75 * Math.PI * r + Math.PI * c;
                int k = c * n + i;
                x[2 * k] = r * Math.Sin(t) * 2 + 0.05 * rng.NextNormal();
                x[2 * k + 1] = r * Math.Cos(t) * 2 + 0.05 * rng.NextNormal();
                y[k] = c;
            }
        return (Tensor.FromHost(x, [2 * n, 2]), Tensor.FromArray(y, [2 * n]));
    }

    private static double Accuracy(Tensor logits, Tensor labels)
    {
        using var pred = F.ArgMax(logits, 1);
        var p = pred.ToArray<int>();
        var l = labels.ToArray<int>();
        return p.Zip(l).Count(z => z.First == z.Second) / (double)l.Length;
    }

    [Test]
    public void MlpLearnsTwoSpirals()
    {
        Rng.Seed(11);
        var (x, y) = Spirals(150, new Rng(5));
        using var _x = x;
        using var _y = y;
        using var model = new Sequential(new Linear(2, 64), new Tanh(), new Linear(64, 64), new Tanh(), new Linear(64, 2));
        using var opt = new AdamW(ParamGroup.DecayAndNoDecay(model, 1e-4), lr: 1e-2);
        const int steps = 400;
        var sched = new OneCycleLR(opt, maxLr: 2e-2, totalSteps: steps);
        double first = 0, last = 0;
        for (int s = 0; s < steps; s++)
        {
            using var scope = TensorScope.Begin();
            var loss = F.CrossEntropy(model.Forward(x), y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            sched.Step();
            if (s == 0) first = loss.Item();
            last = loss.Item();
        }
        double acc;
        using (var scope = TensorScope.Begin())
        using (Kernels.Nets.Autograd.NoGrad())
            acc = Accuracy(model.Forward(x), y);
        TestContext.Out.WriteLine($"spirals: loss {first:F4} -> {last:F4}, accuracy {acc:P1}");
        Assert.That(last, Is.LessThan(first / 5), "loss drops at least 5x");
        Assert.That(acc, Is.GreaterThan(0.9), "training accuracy");
    }

    /// <summary>12×12 images: two parallel bars (class 0) or a cross (class 1), at random places,
    /// with noise. Both classes light about the same number of pixels.</summary>
    private static (Tensor X, Tensor Y) BarsAndCrosses(int n, Rng rng)
    {
        const int s = 12;
        var x = new double[n * s * s];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            var img = x.AsSpan(i * s * s, s * s);
            for (int p = 0; p < img.Length; p++) img[p] = 0.2 * rng.NextNormal();
            bool cross = rng.NextInt(2) == 1;
            y[i] = cross ? 1 : 0;
            int a = 2 + rng.NextInt(s - 4), b = 2 + rng.NextInt(s - 4);
            if (cross)
                for (int k = 0; k < s; k++) { img[a * s + k] += 1; img[k * s + b] += 1; }
            else if (rng.NextInt(2) == 0)
            {
                int a2 = (a + 3 + rng.NextInt(s - 6)) % s;
                for (int k = 0; k < s; k++) { img[a * s + k] += 1; img[a2 * s + k] += 1; }
            }
            else
            {
                int b2 = (b + 3 + rng.NextInt(s - 6)) % s;
                for (int k = 0; k < s; k++) { img[k * s + b] += 1; img[k * s + b2] += 1; }
            }
        }
        return (Tensor.FromHost(x, [n, 1, s, s]), Tensor.FromArray(y, [n]));
    }

    [Test]
    public void SmallCnnLearnsBarsVersusCrosses()
    {
        Rng.Seed(12);
        var (x, y) = BarsAndCrosses(256, new Rng(8));
        var (xt, yt) = BarsAndCrosses(128, new Rng(9));
        using var _ = x; using var __ = y; using var ___ = xt; using var ____ = yt;
        using var model = new Sequential(
            new Conv2d(1, 8, 3, padding: 1), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
            new Conv2d(8, 16, 3, padding: 1), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
            new GlobalAvgPool(), new Linear(16, 2));
        using var opt = new Adam(model.Parameters(), lr: 1e-2, weightDecay: 1e-5);
        const int steps = 80, batch = 64;
        var sched = new CosineAnnealingLR(opt, steps);
        using var ema = new ModelEma(model, decay: 0.9);
        double first = 0, last = 0;
        for (int s = 0; s < steps; s++)
        {
            using var scope = TensorScope.Begin();
            int start = s * batch % 256;
            var xb = F.Slice(x, 0, start, batch);
            var yb = Tensor.FromArray(y.ToArray<int>()[start..(start + batch)], [batch]);
            var loss = F.CrossEntropy(model.Forward(xb), yb);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            sched.Step();
            ema.Update(model);
            if (s == 0) first = loss.Item();
            // Mini-batch losses are noisy: judge the end by the mean of the last 10.
            if (s >= steps - 10) last += loss.Item() / 10;
        }
        double acc;
        model.Eval();
        using (var scope = TensorScope.Begin())
        using (Kernels.Nets.Autograd.NoGrad())
            acc = Accuracy(model.Forward(xt), yt);
        TestContext.Out.WriteLine($"bars/crosses: loss {first:F4} -> {last:F4}, held-out accuracy {acc:P1}");
        Assert.That(last, Is.LessThan(first / 3), "loss drops at least 3x");
        Assert.That(acc, Is.GreaterThan(0.9), "held-out accuracy");
    }

    [Test]
    public void ThousandConvolutionalStepsDoNotGrowMemory()
    {
        Rng.Seed(14);
        var (x, y) = BarsAndCrosses(4, new Rng(2));
        using var _x = x;
        using var _y = y;
        using var model = new Sequential(new Conv2d(1, 3, 3, padding: 1), new BatchNorm2d(3), new ReLU(), new MaxPool2d(2),
            new Conv2d(3, 4, 3, stride: 2), new GlobalAvgPool(), new Linear(4, 2));
        using var opt = new Sgd(model.Parameters(), lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4);
        var sched = new CosineAnnealingLR(opt, 1000);
        long tensors = 0, bytes = 0;
        for (int s = 1; s <= 1000; s++)
        {
            using (var scope = TensorScope.Begin())
            {
                var loss = F.CrossEntropy(model.Forward(x), y);
                opt.ZeroGrad();
                loss.Backward();
                GradClip.ClipGradNorm(model.Parameters(), 5);
                opt.Step();
                sched.Step();
            }
            if (s == 10) (tensors, bytes) = (TensorStats.LiveTensors, TensorStats.LiveBytes);
        }
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(tensors), "live tensors after step 1000 vs step 10");
        Assert.That(TensorStats.LiveBytes, Is.EqualTo(bytes), "live bytes after step 1000 vs step 10");
    }

    /// <summary>Embedding → self-attention → layer norm → mean over the sequence → classifier.</summary>
    private sealed class TinyAttention : Module
    {
        private readonly Embedding _emb;
        private readonly MultiheadAttention _mha;
        private readonly LayerNorm _norm;
        private readonly Linear _head;

        public TinyAttention()
        {
            _emb = RegisterModule("emb", new Embedding(7, 8));
            _mha = RegisterModule("attn", new MultiheadAttention(8, 2, dropout: 0.1));
            _norm = RegisterModule("norm", new LayerNorm(8));
            _head = RegisterModule("head", new Linear(8, 2));
        }

        public override Tensor Forward(Tensor tokens)
        {
            var e = _emb.Forward(tokens);
            var h = _norm.Forward(F.Add(e, _mha.Forward(e)));
            return _head.Forward(F.Mean(h, [1]));
        }
    }

    [Test]
    public void ThousandAttentionStepsDoNotGrowMemory()
    {
        Rng.Seed(15);
        using var tokens = Tensor.FromArray(new[] { 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5 }, [3, 4]);
        using var y = Tensor.FromArray(new[] { 0, 1, 1 }, [3]);
        using var model = new TinyAttention();
        using var opt = new Adam(model.Parameters(), lr: 1e-3);
        var sched = new StepLR(opt, 100, 0.9);
        long tensors = 0, bytes = 0;
        for (int s = 1; s <= 1000; s++)
        {
            using (var scope = TensorScope.Begin())
            {
                var loss = F.CrossEntropy(model.Forward(tokens), y);
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
                sched.Step();
            }
            if (s == 10) (tensors, bytes) = (TensorStats.LiveTensors, TensorStats.LiveBytes);
        }
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(tensors), "live tensors after step 1000 vs step 10");
        Assert.That(TensorStats.LiveBytes, Is.EqualTo(bytes), "live bytes after step 1000 vs step 10");
    }

    [Test]
    public void ThousandStepsDoNotGrowMemory()
    {
        Rng.Seed(13);
        var (x, y) = Spirals(16, new Rng(1));
        using var _x = x;
        using var _y = y;
        using var model = new Sequential(new Linear(2, 8), new BatchNorm1d(8), new GELU(), new Dropout(0.1), new Linear(8, 2));
        using var opt = new AdamW(ParamGroup.DecayAndNoDecay(model, 0.01), lr: 1e-2);
        var sched = new OneCycleLR(opt, 1e-2, totalSteps: 1000);
        using var ema = new ModelEma(model, 0.99);
        long tensors = 0, bytes = 0;
        for (int s = 1; s <= 1000; s++)
        {
            using (var scope = TensorScope.Begin())
            {
                var loss = F.CrossEntropy(model.Forward(x), y, labelSmoothing: 0.1);
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
                sched.Step();
                ema.Update(model);
            }
            if (s == 10) (tensors, bytes) = (TensorStats.LiveTensors, TensorStats.LiveBytes);
        }
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(tensors), "live tensors after step 1000 vs step 10");
        Assert.That(TensorStats.LiveBytes, Is.EqualTo(bytes), "live bytes after step 1000 vs step 10");
    }
}
