using Kernels.Nets.Models.MlDecoder;
using Kernels.Nets.Modules;
using Kernels.Ops.Activation;
using Kernels.Ops.AsymmetricLoss;
using Kernels.Nets.Optim;
using Kernels.Ops.Conv;
using Kernels.Ops.Gemm;
using Kernels.Ops.Norm;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Benchmarking;

/// <summary>One timed workload on one device: <see cref="Run"/> queues one call (the timer
/// synchronises the device around it); Dispose frees what the setup made.</summary>
public interface IBenchWorkload : IDisposable
{
    void Run();
}

/// <summary>A named benchmark case. <see cref="Name"/> is the join key with the PyTorch peers
/// (benchmarks/peer/*.py) and the BenchmarkDotNet descriptions; <see cref="Flops"/> is per call.
/// <see cref="Bytes"/> (0: not a bandwidth case) is the minimal DRAM traffic of one call: every
/// tensor a pass reads counted once, every tensor it writes counted once, nothing for caches,
/// re-reads, temporaries or scalars; achieved GB/s = Bytes / seconds is then a lower bound on
/// what the kernels move.</summary>
public sealed record BenchCase(string Name, string Group, double Flops, Func<Device, IBenchWorkload> Create, double Bytes = 0);

/// <summary>The engine's benchmark cases, shared by `kernels bench` (any device, run by the GPU
/// device check) and the BenchmarkDotNet classes (cpu), so both time the same work.</summary>
public static partial class BenchCases
{
    public static IReadOnlyList<BenchCase> All { get; } =
    [
        Gemm(1024, 1024, 1024),
        Gemm(6272, 2048, 768),   // ML-Decoder: 32 images × 196 tokens through 768→2048
        Gemm(3200, 768, 2048),
        new("conv2d fwd b8 64->64 56^2 k3", "conv", ConvFlops(8, 64, 56 * 56, 64, 9),
            d => new ConvWorkload(d, ConvShape.Create(8, 64, 64, [56, 56], [3, 3], [1, 1], [1, 1], [1, 1], 1), backward: false)),
        new("conv3d fwd b2 32->32 32^3 k3", "conv", ConvFlops(2, 32, 32 * 32 * 32, 32, 27),
            d => new ConvWorkload(d, Conv3dShape, backward: false)),
        new("conv3d bwd b2 32->32 32^3 k3", "conv", 2 * ConvFlops(2, 32, 32 * 32 * 32, 32, 27),
            d => new ConvWorkload(d, Conv3dShape, backward: true)),
        // Issue 5's CPU bar, each pass on its own (peer: benchmarks/peer/conv.py, same names).
        new("conv3d bwd-data b2 32->32 32^3 k3", "conv", ConvFlops(2, 32, 32 * 32 * 32, 32, 27),
            d => new ConvPassWorkload(d, Conv3dShape, weights: false)),
        new("conv3d bwd-weights b2 32->32 32^3 k3", "conv", ConvFlops(2, 32, 32 * 32 * 32, 32, 27),
            d => new ConvPassWorkload(d, Conv3dShape, weights: true)),
        // The U-Net's inference layer conv → batch norm (running statistics) → LeakyReLU(0.01): three
        // kernels, or one fused forward with the norm folded into its epilogue (decision 0019).
        new("conv3d+bn+lrelu unfused b2 32->32 32^3 k3", "conv", ConvFlops(2, 32, 32 * 32 * 32, 32, 27),
            d => new ConvBnActWorkload(d, Conv3dShape, fused: false)),
        new("conv3d+bn+lrelu fused b2 32->32 32^3 k3", "conv", ConvFlops(2, 32, 32 * 32 * 32, 32, 27),
            d => new ConvBnActWorkload(d, Conv3dShape, fused: true)),
        new("train step cnn b32 32x32", "train_step",
            3 * (ConvFlops(32, 32, 32 * 32, 3, 9) + ConvFlops(32, 64, 16 * 16, 32, 9) + 2.0 * 32 * 64 * 10),
            TrainStepWorkload.Cnn),
        new("train step mlp b128", "train_step", 3 * 2.0 * 128 * (784 * 512 + 512 * 512 + 512 * 10), TrainStepWorkload.Mlp),
        new("train step unet3d b2 32x64x64", "train_step", UNetStepWorkload.Flops(UNetStepWorkload.Options), UNetStepWorkload.Create),
        // Issue 4's CPU bars: the head's forward + backward (B 16, T 49, C 2048, K = N = 80) and the
        // fused ASL forward + backward (B 64, N 9605). Peer: benchmarks/peer/ml_decoder.py (same flops).
        new("ml-decoder head fwd+bwd b16 t49 c2048 k80", "ml_decoder", HeadFlops(16, 49, 2048, 80, 80), d => new HeadWorkload(d, 16, 49, 2048, 80)),
        new("asl fwd+bwd b64 n9605", "ml_decoder", 0, d => new AslWorkload(d, 64, 9605), AslBytes(64, 9605)),
        // Issue 7: bandwidth cases (BenchCases.Bandwidth.cs): the card's practical floor (a copy), the
        // ASL at a size where launch latency no longer hides the traffic, group decoding (ML-Decoder).
        CopyCase(256),
        new("asl fwd+bwd b1024 n9605", "ml_decoder", 0, d => new AslWorkload(d, 1024, 9605), AslBytes(1024, 9605)),
        AslKernelCase(1024, 9605),
        GroupDecodeCase(64, 100, 768, 9605),   // the paper's 9605 classes (g = 97)
        GroupDecodeCase(16, 80, 768, 80),      // COCO: 80 groups of one class
    ];

    /// <summary>3 × the forward's multiply-adds ×2 of the head's matrix products (as the peer counts them).</summary>
    private static double HeadFlops(int b, int t, int c, int k, int n, int d = 768)
    {
        int g = (int)(n / (double)k + 0.999);
        return 3 * 2.0 * b * ((double)t * c * d + (double)k * d * d + 2.0 * t * d * d + 2.0 * k * t * d + (double)k * d * d
                              + 2.0 * k * d * 2048 + (double)k * d * g);
    }

    /// <summary>The ML-Decoder head on tokens [B, T, C]: forward, then the backward of sum(logits · r)
    /// for a fixed random r, through every parameter (dropout off: eval-mode numerics, training graph).</summary>
    public sealed class HeadWorkload : IBenchWorkload
    {
        private readonly MlDecoderHead _head;
        private readonly Tensor _tokens, _r;

        public HeadWorkload(Device device, int b, int t, int c, int n)
        {
            Rng.Seed(0);
            _head = new MlDecoderHead(c, n, dropout: 0);
            _head.To(device);
            _tokens = Tensor.Randn([b, t, c], device: device);
            _r = Tensor.Randn([b, n], device: device);
        }

        public void Run()
        {
            using var scope = TensorScope.Begin();
            _head.ZeroGrad();
            F.Sum(F.Mul(_head.Forward(_tokens), _r)).Backward();
        }

        public void Dispose()
        {
            _head.Dispose();
            _tokens.Dispose();
            _r.Dispose();
        }
    }

    /// <summary>The fused asymmetric loss (recipe options) forward + backward on [B, N] logits with ~1% positives,
    /// through F.AsymmetricLoss and autograd (see <see cref="AslBytes"/> for what that path moves beyond the floor).</summary>
    public sealed class AslWorkload : IBandwidthWorkload
    {
        /// <summary>Logits and targets read, the logits' gradient written (see <see cref="AslBytes"/>).</summary>
        public long MinimalBytes => BytesOf(_logits) + BytesOf(_targets) + BytesOf(_logits);

        /// <summary>The logits (their Grad holds the last call's gradient).</summary>
        public Tensor Logits => _logits;

        private readonly Tensor _logits, _targets;

        public AslWorkload(Device device, int b, int n)
        {
            Rng.Seed(0);
            _logits = Tensor.Randn([b, n], std: 3, device: device).AsParameter();
            var t = new float[b * n];
            var rng = new Rng(1);
            for (int i = 0; i < t.Length; i++) t[i] = rng.NextDouble() < 0.01 ? 1 : 0;
            _targets = Tensor.From<float>(t, [b, n], device);
        }

        public void Run()
        {
            using var scope = TensorScope.Begin();
            _logits.Grad?.Dispose();
            _logits.Grad = null;
            F.AsymmetricLoss(_logits, _targets, AslOptions.Recipe).Backward();
        }

        public void Dispose()
        {
            _logits.Grad?.Dispose();
            _logits.Dispose();
            _targets.Dispose();
        }
    }

    private static readonly ConvShape Conv3dShape =
        ConvShape.Create(2, 32, 32, [32, 32, 32], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1);

    private static double ConvFlops(int n, int cout, int outSpatial, int cinPerGroup, int kernelVolume) =>
        2.0 * n * cout * outSpatial * cinPerGroup * kernelVolume;

    private static BenchCase Gemm(int m, int n, int k) =>
        new($"sgemm {m}x{n}x{k}", "gemm", 2.0 * m * n * k, d => new GemmWorkload(d, m, n, k));

    /// <summary>C = A·B, row-major, output reused (the peer: torch.mm(a, b, out=c)).</summary>
    public sealed class GemmWorkload : IBenchWorkload
    {
        private readonly Tensor _a, _b, _c;
        private readonly GemmShape _shape;
        private readonly IGemm _gemm;

        public GemmWorkload(Device device, int m, int n, int k, IGemm? gemm = null)
        {
            _a = Tensor.Rand([m, k], device: device);
            _b = Tensor.Rand([k, n], device: device);
            _c = Tensor.Zeros([m, n], device: device);
            _shape = new GemmShape(m, n, k);
            _gemm = gemm ?? device.Kernels.Get<IGemm>();
        }

        public void Run() => _gemm.Gemm(_shape, 1, _a.Buffer, _b.Buffer, 0, _c.Buffer);

        public void Dispose()
        {
            _a.Dispose(); _b.Dispose(); _c.Dispose();
        }
    }

    /// <summary>Convolution forward, or both backward passes (dx and dw, as the peer times autograd.grad).</summary>
    public sealed class ConvWorkload : IBenchWorkload
    {
        private readonly ConvShape _s;
        private readonly bool _backward;
        private readonly IConv _conv;
        private readonly Tensor _x, _w, _y, _dy, _dx, _dw;

        public ConvWorkload(Device device, ConvShape shape, bool backward)
        {
            _s = shape;
            _backward = backward;
            _conv = device.Kernels.Get<IConv>();
            int[] xs = [shape.Batch, shape.InChannels, .. shape.InSize];
            int[] ws = [shape.OutChannels, shape.InChannels / shape.Groups, .. shape.Kernel];
            int[] ys = [shape.Batch, shape.OutChannels, .. shape.OutSize];
            _x = Tensor.Randn(xs, device: device);
            _w = Tensor.Randn(ws, std: 0.05, device: device);
            _y = Tensor.Zeros(ys, device: device);
            _dy = Tensor.Randn(ys, device: device);
            _dx = Tensor.Zeros(xs, device: device);
            _dw = Tensor.Zeros(ws, device: device);
        }

        public void Run()
        {
            if (!_backward)
            {
                _conv.Forward(_s, _x.Buffer, _w.Buffer, null, _y.Buffer);
                return;
            }
            _conv.BackwardData(_s, _dy.Buffer, _w.Buffer, _dx.Buffer);
            _conv.BackwardWeights(_s, _x.Buffer, _dy.Buffer, _dw.Buffer, null);
        }

        public void Dispose()
        {
            foreach (var t in new[] { _x, _w, _y, _dy, _dx, _dw }) t.Dispose();
        }
    }

    /// <summary>One backward pass of a convolution alone: the data gradient, or the weight gradient
    /// (no bias gradient), as the peer times autograd.grad with respect to x or w only.</summary>
    public sealed class ConvPassWorkload : IBenchWorkload
    {
        private readonly ConvShape _s;
        private readonly bool _weights;
        private readonly IConv _conv;
        private readonly Tensor _x, _w, _dy, _dx, _dw;

        public ConvPassWorkload(Device device, ConvShape shape, bool weights)
        {
            _s = shape;
            _weights = weights;
            _conv = device.Kernels.Get<IConv>();
            int[] xs = [shape.Batch, shape.InChannels, .. shape.InSize];
            int[] ws = [shape.OutChannels, shape.InChannels / shape.Groups, .. shape.Kernel];
            int[] ys = [shape.Batch, shape.OutChannels, .. shape.OutSize];
            _x = Tensor.Randn(xs, device: device);
            _w = Tensor.Randn(ws, std: 0.05, device: device);
            _dy = Tensor.Randn(ys, device: device);
            _dx = Tensor.Zeros(xs, device: device);
            _dw = Tensor.Zeros(ws, device: device);
        }

        public void Run()
        {
            if (_weights) _conv.BackwardWeights(_s, _x.Buffer, _dy.Buffer, _dw.Buffer, null);
            else _conv.BackwardData(_s, _dy.Buffer, _w.Buffer, _dx.Buffer);
        }

        public void Dispose()
        {
            foreach (var t in new[] { _x, _w, _dy, _dx, _dw }) t.Dispose();
        }
    }

    /// <summary>conv (+ bias) → inference batch norm → LeakyReLU(0.01) at kernel level, outputs reused:
    /// unfused, the three families' kernels one after another (conv, INorm.BatchForward with running
    /// statistics, IActivation); fused, one IConv.ForwardFused with the bias and norm folded into a
    /// per-channel scale / shift (folded once at setup, as an inference model would).</summary>
    public sealed class ConvBnActWorkload : IBenchWorkload
    {
        private const double Eps = 1e-5, Slope = 0.01;
        private readonly ConvShape _s;
        private readonly bool _fused;
        private readonly IConv _conv;
        private readonly INorm _norm;
        private readonly IActivation _act;
        private readonly Tensor _x, _w, _bias, _gamma, _beta, _mean, _var, _scale, _shift, _y, _z, _out, _saveMean, _saveInv;

        public ConvBnActWorkload(Device device, ConvShape shape, bool fused)
        {
            _s = shape;
            _fused = fused;
            _conv = device.Kernels.Get<IConv>();
            _norm = device.Kernels.Get<INorm>();
            _act = device.Kernels.Get<IActivation>();
            int c = shape.OutChannels;
            int[] ys = [shape.Batch, c, .. shape.OutSize];
            _x = Tensor.Randn([shape.Batch, shape.InChannels, .. shape.InSize], device: device);
            _w = Tensor.Randn([c, shape.InChannels / shape.Groups, .. shape.Kernel], std: 0.05, device: device);
            _bias = Tensor.Randn([c], std: 0.1, device: device);
            _gamma = Tensor.Rand([c], 0.5, 1.5, device: device);
            _beta = Tensor.Randn([c], std: 0.1, device: device);
            _mean = Tensor.Randn([c], std: 0.1, device: device);
            _var = Tensor.Rand([c], 0.5, 2, device: device);
            (_scale, _shift) = F.FoldBatchNorm(_bias, _gamma, _beta, _mean, _var, Eps);
            _y = Tensor.Zeros(ys, device: device);
            _z = Tensor.Zeros(ys, device: device);
            _out = Tensor.Zeros(ys, device: device);
            _saveMean = Tensor.Zeros([c], device: device);
            _saveInv = Tensor.Zeros([c], device: device);
        }

        public void Run()
        {
            if (_fused)
            {
                _conv.ForwardFused(_s, _x.Buffer, _w.Buffer, null, _out.Buffer, ActivationKind.LeakyRelu, Slope, _scale.Buffer, _shift.Buffer);
                return;
            }
            _conv.Forward(_s, _x.Buffer, _w.Buffer, _bias.Buffer, _y.Buffer);
            _norm.BatchForward(new BatchNormShape(_s.Batch, _s.OutChannels, (int)_s.OutSpatial), false, 0, Eps, _y.Buffer,
                _gamma.Buffer, _beta.Buffer, _mean.Buffer, _var.Buffer, _z.Buffer, _saveMean.Buffer, _saveInv.Buffer);
            _act.Forward(ActivationKind.LeakyRelu, Slope, _s.OutputElements, _z.Buffer, _out.Buffer);
        }

        public void Dispose()
        {
            foreach (var t in new[] { _x, _w, _bias, _gamma, _beta, _mean, _var, _scale, _shift, _y, _z, _out, _saveMean, _saveInv })
                t.Dispose();
        }
    }

    /// <summary>One whole float32 training step: forward, cross-entropy, ZeroGrad, backward and the
    /// optimizer update, every temporary freed by a TensorScope per step. Inputs need no gradient.
    /// (a) CNN: Conv2d(3→32,k3,p1)–BN–ReLU–MaxPool2–Conv2d(32→64,k3,p1)–BN–ReLU–GAP–Linear(64→10),
    ///     batch 32 of 3×32×32, SGD lr 0.01 momentum 0.9 Nesterov weight decay 5e-4;
    /// (b) MLP: 784→512→ReLU→512→ReLU→10, batch 128, AdamW lr 1e-3 weight decay 1e-2.</summary>
    public sealed class TrainStepWorkload(Module model, Optimizer optimizer, Tensor x, Tensor y) : IBenchWorkload
    {
        /// <summary>The model being trained (for checks of its weights).</summary>
        public Module Model => model;

        public static TrainStepWorkload Cnn(Device device)
        {
            Rng.Seed(0);
            var model = new Sequential(
                new Conv2d(3, 32, 3, padding: 1), new BatchNorm2d(32), new ReLU(), new MaxPool2d(2),
                new Conv2d(32, 64, 3, padding: 1), new BatchNorm2d(64), new ReLU(),
                new GlobalAvgPool(), new Linear(64, 10));
            model.To(device);
            var sgd = new Sgd(model.Parameters(), lr: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true);
            return new TrainStepWorkload(model, sgd, Tensor.Randn([32, 3, 32, 32], device: device),
                Tensor.FromArray(Labels(32, 10), [32], device));
        }

        public static TrainStepWorkload Mlp(Device device)
        {
            Rng.Seed(0);
            var model = new Sequential(new Linear(784, 512), new ReLU(), new Linear(512, 512), new ReLU(), new Linear(512, 10));
            model.To(device);
            var adamw = new AdamW(model.Parameters(), lr: 1e-3, weightDecay: 1e-2);
            return new TrainStepWorkload(model, adamw, Tensor.Randn([128, 784], device: device),
                Tensor.FromArray(Labels(128, 10), [128], device));
        }

        private static int[] Labels(int n, int classes)
        {
            var y = new int[n];
            for (int i = 0; i < n; i++) y[i] = (i * 7 + 3) % classes;
            return y;
        }

        public void Run()
        {
            using var scope = TensorScope.Begin();
            var loss = F.CrossEntropy(model.Forward(x), y);
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
        }

        public void Dispose()
        {
            optimizer.Dispose();
            model.Dispose();
            x.Dispose();
            y.Dispose();
        }
    }
}
