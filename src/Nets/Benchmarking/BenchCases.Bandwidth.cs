using Kernels.Ops.AsymmetricLoss;
using Kernels.Ops.Elementwise;
using Kernels.Ops.GroupDecode;

namespace Kernels.Nets.Benchmarking;

/// <summary>A workload whose minimal traffic can be counted from the tensors it allocated, so
/// tests can hold a case's <see cref="BenchCase.Bytes"/> formula to what the workload really moves.</summary>
public interface IBandwidthWorkload : IBenchWorkload
{
    /// <summary>The bytes of one <see cref="IBenchWorkload.Run"/> by <see cref="BenchCase.Bytes"/>'s rule,
    /// summed over the tensors the workload holds.</summary>
    long MinimalBytes { get; }
}

// Issue 7's bandwidth cases: the card's practical floor (a device-to-device copy) and the
// ML-Decoder's memory-bound kernels, each with its Bytes per call, so `kernels bench` can report
// GB/s and ratio.py the fraction of the copy's GB/s measured in the same run.
public static partial class BenchCases
{
    private static long BytesOf(Tensor t) => t.Numel * t.DType.Size();

    /// <summary>"copy d2d {n}MiB": n MiB of float32 copied once; 2·n MiB (read + write).</summary>
    public static BenchCase CopyCase(int mebibytes) =>
        new($"copy d2d {mebibytes}MiB", "bandwidth", 0, d => new CopyWorkload(d, ((long)mebibytes << 20) / sizeof(float)),
            2.0 * mebibytes * (1 << 20));

    /// <summary>The asymmetric loss's floor: logits and targets read once, the logits' gradient written
    /// once (the fused kernel reads each logit once: one pass computes loss and gradient). Through
    /// F.AsymmetricLoss and autograd (<see cref="AslWorkload"/>) the engine moves more: the backward
    /// scales the saved gradient by the upstream scalar (one more read + write of B·N) and autograd
    /// clones the result into logits.Grad (another), 7·B·N floats in all, so that path tops out near
    /// 3/7 of the copy's GB/s; <see cref="AslKernelCase"/> times the kernel alone.</summary>
    public static double AslBytes(int b, int n) => 3.0 * b * n * sizeof(float);

    /// <summary>"asl kernel b{b} n{n}": the IAsymmetricLoss call alone, gradient buffer reused (ours only:
    /// the peer has no separate kernel to time).</summary>
    public static BenchCase AslKernelCase(int b, int n) =>
        new($"asl kernel b{b} n{n}", "ml_decoder", 0, d => new AslKernelWorkload(d, b, n), AslBytes(b, n));

    /// <summary>"group decode fwd+bwd b{b} k{k} d{d} g{g}", g = ceil(n / k): x [b, k, d], w [k, d, g] →
    /// logits [b, n], then the backward of sum(logits · r) into dx and dw (no bias). Flops: the n real
    /// columns' multiply-adds ×2, three products (forward, dx, dw). Bytes, per pass: the forward reads
    /// x, w and writes the logits; the backward reads x, w, dlogits and writes dx, dw (w and dw at
    /// their full k·d·g, the padding columns of the last group included).</summary>
    public static BenchCase GroupDecodeCase(int b, int k, int d, int n)
    {
        var s = GroupDecodeShape.Create(b, k, d, n);
        double x = (double)b * k * d, w = (double)k * d * s.PerGroup, y = (double)b * n;
        return new($"group decode fwd+bwd b{b} k{k} d{d} g{s.PerGroup}", "ml_decoder", 3 * 2.0 * b * n * d,
            dev => new GroupDecodeWorkload(dev, s), (3 * x + 3 * w + 2 * y) * sizeof(float));
    }

    /// <summary>y ← x through IElementwise.Copy, the engine's device-to-device copy path (Tensor.Clone's).
    /// Both buffers are filled at setup, so no call pays first-touch page faults.</summary>
    public sealed class CopyWorkload : IBandwidthWorkload
    {
        private readonly Tensor _x, _y;
        private readonly IElementwise _ew;

        public CopyWorkload(Device device, long floats)
        {
            _x = Tensor.Full([checked((int)floats)], 1.5, device: device);
            _y = Tensor.Full([checked((int)floats)], 0, device: device);
            _ew = device.Kernels.Get<IElementwise>();
        }

        public long MinimalBytes => BytesOf(_x) + BytesOf(_y);

        public Tensor Source => _x;
        public Tensor Destination => _y;

        public void Run() => _ew.Copy(_x.Numel, _x.Buffer, _y.Buffer);

        public void Dispose()
        {
            _x.Dispose();
            _y.Dispose();
        }
    }

    /// <summary>The fused ASL forward + backward (recipe options, ~1% positives) as one IAsymmetricLoss
    /// call into a reused gradient buffer: the kernel's traffic without the autograd path's extra passes.</summary>
    public sealed class AslKernelWorkload : IBandwidthWorkload
    {
        private readonly Tensor _logits, _targets, _loss, _dLogits;
        private readonly IAsymmetricLoss _asl;
        private readonly int _b, _n;

        public AslKernelWorkload(Device device, int b, int n)
        {
            _b = b;
            _n = n;
            Rng.Seed(0);
            _logits = Tensor.Randn([b, n], std: 3, device: device);
            var t = new float[(long)b * n];
            var rng = new Rng(1);
            for (long i = 0; i < t.Length; i++) t[i] = rng.NextDouble() < 0.01 ? 1 : 0;
            _targets = Tensor.From<float>(t, [b, n], device);
            _loss = Tensor.Zeros(Shape.Scalar, device: device);
            _dLogits = Tensor.Zeros([b, n], device: device);
            _asl = device.Kernels.Get<IAsymmetricLoss>();
        }

        public long MinimalBytes => BytesOf(_logits) + BytesOf(_targets) + BytesOf(_dLogits);

        public Tensor Logits => _logits;
        public Tensor Targets => _targets;
        public Tensor Loss => _loss;
        public Tensor Gradient => _dLogits;

        public void Run() =>
            _asl.ForwardBackward(_b, _n, AslOptions.Recipe, _logits.Buffer, _targets.Buffer, null, _loss.Buffer, _dLogits.Buffer);

        public void Dispose()
        {
            foreach (var t in new[] { _logits, _targets, _loss, _dLogits }) t.Dispose();
        }
    }

    /// <summary>Group decoding forward + backward at kernel level (as the GEMM and conv cases): one
    /// IGroupDecode.Forward into reused logits, one Backward with dlogits = r (the gradient of
    /// sum(logits · r)) into reused dx and dw, no bias. The same two launches F.GroupDecode makes, without
    /// the autograd bookkeeping (its leaf-gradient copies would add traffic that is not the kernels').</summary>
    public sealed class GroupDecodeWorkload : IBandwidthWorkload
    {
        private readonly GroupDecodeShape _s;
        private readonly IGroupDecode _gd;
        private readonly Tensor _x, _w, _y, _r, _dx, _dw;

        public GroupDecodeWorkload(Device device, GroupDecodeShape shape)
        {
            _s = shape;
            _gd = device.Kernels.Get<IGroupDecode>();
            Rng.Seed(0);
            _x = Tensor.Randn([shape.Batch, shape.Groups, shape.Dim], device: device);
            _w = Tensor.Randn([shape.Groups, shape.Dim, shape.PerGroup], std: 0.05, device: device);
            _r = Tensor.Randn([shape.Batch, shape.Classes], device: device);
            _y = Tensor.Zeros([shape.Batch, shape.Classes], device: device);
            _dx = Tensor.Zeros(_x.Shape, device: device);
            _dw = Tensor.Zeros(_w.Shape, device: device);
        }

        public GroupDecodeShape DecodeShape => _s;
        public Tensor X => _x;
        public Tensor W => _w;
        public Tensor R => _r;
        public Tensor Logits => _y;
        public Tensor Dx => _dx;
        public Tensor Dw => _dw;

        /// <summary>Forward: x, w read, logits written; backward: x, w, r read, dx, dw written.</summary>
        public long MinimalBytes =>
            BytesOf(_x) + BytesOf(_w) + BytesOf(_y) + BytesOf(_x) + BytesOf(_w) + BytesOf(_r) + BytesOf(_dx) + BytesOf(_dw);

        public void Run()
        {
            _gd.Forward(_s, _x.Buffer, _w.Buffer, null, _y.Buffer);
            _gd.Backward(_s, _x.Buffer, _w.Buffer, _r.Buffer, _dx.Buffer, _dw.Buffer, null);
        }

        public void Dispose()
        {
            foreach (var t in new[] { _x, _w, _y, _r, _dx, _dw }) t.Dispose();
        }
    }
}
