using System.Numerics;
using System.Runtime.InteropServices;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Optim;

/// <summary>Reference updates. Arithmetic runs in the parameter's own precision, in PyTorch's
/// order of operations, so float32 results track torch.optim to rounding.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class OptimizerUpdateCpu : IOptimizerUpdate
{
    public void Sgd(in SgdStep step, long n, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer? momentumBuffer)
    {
        switch (param.DType)
        {
            case DType.F32:
                Sgd(step, n, CpuBuffer.Array<float>(param), CpuBuffer.Array<float>(grad),
                    momentumBuffer is null ? null : CpuBuffer.Array<float>(momentumBuffer));
                break;
            case DType.F64:
                Sgd(step, n, CpuBuffer.Array<double>(param), CpuBuffer.Array<double>(grad),
                    momentumBuffer is null ? null : CpuBuffer.Array<double>(momentumBuffer));
                break;
            default: throw new NotSupportedException($"OptimizerUpdate.Sgd: dtype {param.DType.Name()} is not supported on the cpu");
        }
    }

    public void Adam(in AdamStep step, long n, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer expAvg, DeviceBuffer expAvgSq)
    {
        switch (param.DType)
        {
            case DType.F32:
                Adam(step, n, CpuBuffer.Array<float>(param), CpuBuffer.Array<float>(grad), CpuBuffer.Array<float>(expAvg),
                    CpuBuffer.Array<float>(expAvgSq));
                break;
            case DType.F64:
                Adam(step, n, CpuBuffer.Array<double>(param), CpuBuffer.Array<double>(grad), CpuBuffer.Array<double>(expAvg),
                    CpuBuffer.Array<double>(expAvgSq));
                break;
            default: throw new NotSupportedException($"OptimizerUpdate.Adam: dtype {param.DType.Name()} is not supported on the cpu");
        }
    }

    // Below ~16k (Adam) / ~32k (SGD) elements a vectorised pass is a few microseconds: cheaper
    // inline than a hand-off to the thread pool.
    private const long SgdCost = 1, AdamCost = 2;

    private static void Sgd<T>(SgdStep s, long n, T[] p, T[] grad, T[]? buf) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = new SgdConsts<T>(s);
        if (c.UseMom) ArgumentNullException.ThrowIfNull(buf, "OptimizerUpdate.Sgd momentumBuffer");
        CpuParallel.For(n, SgdCost, (i0, i1) =>
        {
            int a = (int)i0, len = (int)(i1 - i0);
            SgdRange(c, p.AsSpan(a, len), grad.AsSpan(a, len), c.UseMom ? buf.AsSpan(a, len) : default);
        });
    }

    private readonly struct SgdConsts<T>(SgdStep s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T Wd = T.CreateTruncating(s.WeightDecay), Mom = T.CreateTruncating(s.Momentum);
        public readonly T Keep = T.CreateTruncating(1 - s.Dampening);
        // −lr rounded once, as the reference's -lr * d (negation is exact).
        public readonly T NegLr = -T.CreateTruncating(s.Lr);
        public readonly bool UseWd = s.WeightDecay != 0, UseMom = s.Momentum != 0, Nesterov = s.Nesterov;
        public readonly bool First = s.FirstStep, Maximize = s.Maximize;
    }

    /// <summary>One contiguous slice. The vector body and the scalar tail do the same operations
    /// in the same order (no fused multiply-add), so every element rounds as the scalar loop did.</summary>
    private static void SgdRange<T>(in SgdConsts<T> c, Span<T> p, ReadOnlySpan<T> grad, Span<T> buf)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0, len = p.Length;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && len >= Vector<T>.Count)
        {
            ref T rp = ref MemoryMarshal.GetReference(p);
            ref T rg = ref MemoryMarshal.GetReference(grad);
            ref T rb = ref MemoryMarshal.GetReference(buf);
            Vector<T> wd = new(c.Wd), mom = new(c.Mom), keep = new(c.Keep), negLr = new(c.NegLr);
            for (; i <= len - Vector<T>.Count; i += Vector<T>.Count)
            {
                nuint k = (nuint)i;
                var d = Vector.LoadUnsafe(ref rg, k);
                if (c.Maximize) d = -d;
                var pv = Vector.LoadUnsafe(ref rp, k);
                if (c.UseWd) d += wd * pv;
                if (c.UseMom)
                {
                    var b = c.First ? d : Vector.LoadUnsafe(ref rb, k) * mom + keep * d;
                    b.StoreUnsafe(ref rb, k);
                    d = c.Nesterov ? d + mom * b : b;
                }
                (pv + negLr * d).StoreUnsafe(ref rp, k);
            }
        }
        for (; i < len; i++)
        {
            T d = c.Maximize ? -grad[i] : grad[i];
            if (c.UseWd) d += c.Wd * p[i];
            if (c.UseMom)
            {
                T b = c.First ? d : buf[i] * c.Mom + c.Keep * d;
                buf[i] = b;
                d = c.Nesterov ? d + c.Mom * b : b;
            }
            p[i] += c.NegLr * d;
        }
    }

    private static void Adam<T>(AdamStep s, long n, T[] p, T[] grad, T[] m, T[] v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = new AdamConsts<T>(s);
        CpuParallel.For(n, AdamCost, (i0, i1) =>
        {
            int a = (int)i0, len = (int)(i1 - i0);
            AdamRange(c, p.AsSpan(a, len), grad.AsSpan(a, len), m.AsSpan(a, len), v.AsSpan(a, len));
        });
    }

    private readonly struct AdamConsts<T>(AdamStep s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T B1 = T.CreateTruncating(s.Beta1), B2 = T.CreateTruncating(s.Beta2);
        public readonly T OneMinusB1 = T.CreateTruncating(1 - s.Beta1), OneMinusB2 = T.CreateTruncating(1 - s.Beta2);
        public readonly T Wd = T.CreateTruncating(s.WeightDecay), Eps = T.CreateTruncating(s.Eps);
        // Bias corrections in float64 as PyTorch computes them (Python floats), then cast; the step
        // size is negated after rounding, as the reference's -stepSize (exact).
        public readonly T NegStepSize = -T.CreateTruncating(s.Lr / (1 - Math.Pow(s.Beta1, s.Step)));
        public readonly T Bc2Sqrt = T.CreateTruncating(Math.Sqrt(1 - Math.Pow(s.Beta2, s.Step)));
        public readonly T Decay = T.CreateTruncating(1 - s.Lr * s.WeightDecay);
        public readonly bool L2 = s.WeightDecay != 0 && !s.Decoupled, Decoupled = s.WeightDecay != 0 && s.Decoupled;
        public readonly bool Maximize = s.Maximize;
    }

    /// <summary>One contiguous slice; vector body and scalar tail round identically (square root
    /// and division are correctly rounded in both, and nothing is fused).</summary>
    private static void AdamRange<T>(in AdamConsts<T> c, Span<T> p, ReadOnlySpan<T> grad, Span<T> m, Span<T> v)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0, len = p.Length;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && len >= Vector<T>.Count)
        {
            ref T rp = ref MemoryMarshal.GetReference(p);
            ref T rg = ref MemoryMarshal.GetReference(grad);
            ref T rm = ref MemoryMarshal.GetReference(m);
            ref T rv = ref MemoryMarshal.GetReference(v);
            Vector<T> b1 = new(c.B1), b2 = new(c.B2), omb1 = new(c.OneMinusB1), omb2 = new(c.OneMinusB2);
            Vector<T> wd = new(c.Wd), eps = new(c.Eps), negStep = new(c.NegStepSize), bc2 = new(c.Bc2Sqrt), decay = new(c.Decay);
            for (; i <= len - Vector<T>.Count; i += Vector<T>.Count)
            {
                nuint k = (nuint)i;
                var g = Vector.LoadUnsafe(ref rg, k);
                if (c.Maximize) g = -g;
                var pv = Vector.LoadUnsafe(ref rp, k);
                if (c.Decoupled) pv *= decay;
                if (c.L2) g += wd * pv;
                var mv = Vector.LoadUnsafe(ref rm, k) * b1 + omb1 * g;
                var vv = Vector.LoadUnsafe(ref rv, k) * b2 + omb2 * g * g;
                mv.StoreUnsafe(ref rm, k);
                vv.StoreUnsafe(ref rv, k);
                var denom = Vector.SquareRoot(vv) / bc2 + eps;
                (pv + negStep * (mv / denom)).StoreUnsafe(ref rp, k);
            }
        }
        for (; i < len; i++)
        {
            T g = c.Maximize ? -grad[i] : grad[i];
            if (c.Decoupled) p[i] *= c.Decay;
            if (c.L2) g += c.Wd * p[i];
            m[i] = m[i] * c.B1 + c.OneMinusB1 * g;
            v[i] = v[i] * c.B2 + c.OneMinusB2 * g * g;
            T denom = T.Sqrt(v[i]) / c.Bc2Sqrt + c.Eps;
            p[i] += c.NegStepSize * (m[i] / denom);
        }
    }
}
