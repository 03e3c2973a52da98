using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Dropout;

/// <summary>Reference dropout: the hash of eight indices at a time in Vector256&lt;uint&gt; lanes,
/// turned into a select mask; the scalar tail (and machines without SIMD) use
/// <see cref="DropoutMask.Hash"/>, which gives the same bits.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class DropoutCpu : IDropout
{
    public void Apply(long n, double p, ulong seed, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Apply(n, p, seed, CpuBuffer.Array<float>(x), CpuBuffer.Array<float>(y)); break;
            case DType.F64: Apply(n, p, seed, CpuBuffer.Array<double>(x), CpuBuffer.Array<double>(y)); break;
            default: throw new NotSupportedException($"Dropout: dtype {y.DType.Name()} is not supported on the cpu");
        }
    }

    private static readonly Vector256<uint> Lane = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Fmix(Vector256<uint> h)
    {
        h ^= Vector256.ShiftRightLogical(h, 16);
        h *= 0x85EBCA6B;
        h ^= Vector256.ShiftRightLogical(h, 13);
        h *= 0xC2B2AE35;
        return h ^ Vector256.ShiftRightLogical(h, 16);
    }

    /// <summary>All-ones lanes where elements i0 … i0+7 are kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> KeepMask(uint a, uint b, uint i0, uint threshold)
    {
        var h = Fmix(Fmix((Vector256.Create(i0) + Lane) ^ Vector256.Create(a)) + Vector256.Create(b));
        return Vector256.GreaterThanOrEqual(h, Vector256.Create(threshold));
    }

    private static void Apply(long n, double p, ulong seed, float[] x, float[] y)
    {
        uint threshold = DropoutMask.Threshold(p);
        var (a, b) = DropoutMask.Keys(seed);
        float scale = (float)(1.0 / (1.0 - p));
        CpuParallel.For(n, 4, (s, e) =>
        {
            long i = s;
            if (Vector256.IsHardwareAccelerated)
            {
                var sv = Vector256.Create(scale);
                for (; i + 8 <= e; i += 8)
                {
                    var keep = KeepMask(a, b, (uint)i, threshold).AsSingle();
                    var xv = Vector256.LoadUnsafe(ref x[i]);
                    Vector256.ConditionalSelect(keep, xv * sv, Vector256<float>.Zero).StoreUnsafe(ref y[i]);
                }
            }
            for (; i < e; i++) y[i] = DropoutMask.Keep(a, b, (uint)i, threshold) ? x[i] * scale : 0f;
        });
    }

    private static void Apply(long n, double p, ulong seed, double[] x, double[] y)
    {
        uint threshold = DropoutMask.Threshold(p);
        var (a, b) = DropoutMask.Keys(seed);
        double scale = 1.0 / (1.0 - p);
        CpuParallel.For(n, 4, (s, e) =>
        {
            long i = s;
            if (Vector256.IsHardwareAccelerated)
            {
                var sv = Vector256.Create(scale);
                for (; i + 8 <= e; i += 8)
                {
                    // Widening the 32-bit mask sign-extends all-ones lanes to 64-bit all-ones.
                    var (lo, hi) = Vector256.Widen(KeepMask(a, b, (uint)i, threshold).AsInt32());
                    var x0 = Vector256.LoadUnsafe(ref x[i]);
                    var x1 = Vector256.LoadUnsafe(ref x[i + 4]);
                    Vector256.ConditionalSelect(lo.AsDouble(), x0 * sv, Vector256<double>.Zero).StoreUnsafe(ref y[i]);
                    Vector256.ConditionalSelect(hi.AsDouble(), x1 * sv, Vector256<double>.Zero).StoreUnsafe(ref y[i + 4]);
                }
            }
            for (; i < e; i++) y[i] = DropoutMask.Keep(a, b, (uint)i, threshold) ? x[i] * scale : 0.0;
        });
    }
}
