using ILGPU;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using static Kernels.Ops.Reduce.IlgpuGroupReduce;

namespace Kernels.Ops.Elementwise;

/// <summary>SumToShape: the axes of x are split into kept axes (y's, in order) and summed axes,
/// adjacent axes of one kind coalesced. The kernels take three of each (extent, x-stride) as
/// scalars; leading kept axes beyond three become host launches with base offsets, leading summed
/// axes beyond three become launches that add into y. A short summed run gets a thread per output
/// (nested loops, no index division); a long one a group per output (tree reduction).</summary>
public sealed partial class ElementwiseIlgpu
{
    private static readonly IlgpuKernel s_sumToShapeThread = new(SumToShapeThreadKernel);
    private static readonly IlgpuKernel s_sumToShapeGroup = new(SumToShapeGroupKernel);

    private const int KernelSumAxes = 3;

    /// <summary>Threads per group of the group-per-output kernel (256 on cuda, 64 on ilgpu-cpu);
    /// settable so that tests can run the cuda geometry on ilgpu-cpu.</summary>
    internal int GroupThreads { get; init; } = Reduce.IlgpuGroupReduce.ThreadsFor(device);

    /// <summary>Summed elements per output from which a whole group works on one output.</summary>
    internal const long GroupPerOutputFrom = 256;

    public void SumToShape(Shape from, Shape to, DeviceBuffer x, DeviceBuffer y)
    {
        IlgpuLaunch.RequireF32("Elementwise.SumToShape", x, y);
        if (to.Numel == 0) return;
        var kept = new List<(int Dim, long Stride)>();
        var summed = new List<(int Dim, long Stride)>();
        int pad = from.Rank - to.Rank, last = -1;
        long stride = 1;
        // From the innermost axis out, so x's row-major strides come out as we go; an axis next to
        // one of the same kind merges with it (x is contiguous, and so is y over the kept axes).
        for (int i = from.Rank - 1; i >= 0; i--)
        {
            int f = from[i], t = i - pad >= 0 ? to[i - pad] : 1;
            if (f == 1) continue;
            int kind = t == f ? 0 : 1;
            var list = kind == 0 ? kept : summed;
            if (kind == last) list[0] = (list[0].Dim * f, list[0].Stride);
            else list.Insert(0, (f, stride));
            last = kind;
            stride *= f;
        }
        var k = Pad(kept);
        var s = Pad(summed);
        long nOut = 1, nSum = 1;
        for (int j = k.Length - KernelSumAxes; j < k.Length; j++) nOut *= k[j].Dim;
        for (int j = s.Length - KernelSumAxes; j < s.Length; j++) nSum *= s[j].Dim;
        long keptLaunches = Prod(k), sumLaunches = Prod(s);
        bool perGroup = nSum >= GroupPerOutputFrom;
        for (long kl = 0; kl < keptLaunches; kl++)
        {
            long xk = Offset(k, kl), yo = kl * nOut;
            for (long sl = 0; sl < sumLaunches; sl++)
            {
                long xo = xk + Offset(s, sl);
                int add = sl == 0 ? 0 : 1;
                int b = k.Length - KernelSumAxes, c = s.Length - KernelSumAxes;
                if (perGroup)
                    s_sumToShapeGroup.Launch(device, new Dim3((uint)Math.Clamp(nOut, 1, IlgpuLaunch.MaxGroups)), new Dim3((uint)GroupThreads),
                        x, xo, y, yo, nOut, k[b + 1].Dim, k[b + 2].Dim, k[b].Stride, k[b + 1].Stride, k[b + 2].Stride,
                        s[c + 1].Dim, s[c + 2].Dim, s[c].Stride, s[c + 1].Stride, s[c + 2].Stride, nSum, add);
                else
                    s_sumToShapeThread.Launch(device, IlgpuLaunch.Grid1D(nOut), IlgpuLaunch.Block1D,
                        x, xo, y, yo, nOut, k[b + 1].Dim, k[b + 2].Dim, k[b].Stride, k[b + 1].Stride, k[b + 2].Stride,
                        s[c].Dim, s[c + 1].Dim, s[c + 2].Dim, s[c].Stride, s[c + 1].Stride, s[c + 2].Stride, add);
            }
        }
    }

    /// <summary>At least three axes, padded in front with (1, 0).</summary>
    private static (int Dim, long Stride)[] Pad(List<(int Dim, long Stride)> axes)
    {
        int missing = Math.Max(0, KernelSumAxes - axes.Count);
        var r = new (int, long)[axes.Count + missing];
        for (int i = 0; i < missing; i++) r[i] = (1, 0);
        for (int i = 0; i < axes.Count; i++) r[missing + i] = axes[i];
        return r;
    }

    /// <summary>Launches over the axes in front of the kernel's three.</summary>
    private static long Prod((int Dim, long Stride)[] axes)
    {
        long p = 1;
        for (int j = 0; j < axes.Length - KernelSumAxes; j++) p *= axes[j].Dim;
        return p;
    }

    /// <summary>x offset of host launch <paramref name="launch"/> over the leading axes.</summary>
    private static long Offset((int Dim, long Stride)[] axes, long launch)
    {
        long off = 0;
        for (int j = axes.Length - KernelSumAxes - 1; j >= 0; j--)
        {
            long q = launch / axes[j].Dim;
            off += (launch - q * axes[j].Dim) * axes[j].Stride;
            launch = q;
        }
        return off;
    }

    /// <summary>x offset of output <paramref name="o"/> over kept axes (k0 implicit, k1, k2).</summary>
    private static long KeptOffset(long o, int k1, int k2, long ks0, long ks1, long ks2, bool fits32)
    {
        long q = Div(o, k2, fits32);
        long off = (o - q * k2) * ks2;
        long q2 = Div(q, k1, fits32);
        return off + (q - q2 * k1) * ks1 + q2 * ks0;
    }

    private static void SumToShapeThreadKernel(ArrayView<float> x, long xOff, ArrayView<float> y, long yOff, long nOut,
        int k1, int k2, long ks0, long ks1, long ks2, int r0, int r1, int r2, long rs0, long rs1, long rs2, int add)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        bool fits32 = nOut <= int.MaxValue;
        for (long o = Grid.GlobalIndex.X; o < nOut; o += stride)
        {
            long b = xOff + KeptOffset(o, k1, k2, ks0, ks1, ks2, fits32);
            float acc = 0f;
            for (int a = 0; a < r0; a++)
                for (int c = 0; c < r1; c++)
                {
                    long e = b + a * rs0 + c * rs1;
                    for (int d = 0; d < r2; d++) acc += x[e + d * rs2];
                }
            y[yOff + o] = add != 0 ? y[yOff + o] + acc : acc;
        }
    }

    private static void SumToShapeGroupKernel(ArrayView<float> x, long xOff, ArrayView<float> y, long yOff, long nOut,
        int k1, int k2, long ks0, long ks1, long ks2, int r1, int r2, long rs0, long rs1, long rs2, long nSum, int add)
    {
        var sh = SharedMemory.Allocate<float>(32);
        bool fits32 = nOut <= int.MaxValue, sum32 = nSum <= int.MaxValue;
        for (long o = Grid.IdxX; o < nOut; o += Grid.DimX)
        {
            long b = xOff + KeptOffset(o, k1, k2, ks0, ks1, ks2, fits32);
            float acc = 0f;
            // The innermost summed axis varies fastest across threads: coalesced where its stride is 1.
            for (long t = Group.IdxX; t < nSum; t += Group.DimX)
            {
                long q = Div(t, r2, sum32);
                long q2 = Div(q, r1, sum32);
                acc += x[b + (t - q * r2) * rs2 + (q - q2 * r1) * rs1 + q2 * rs0];
            }
            acc = RowSum(acc, sh);
            if (Group.IdxX == 0) y[yOff + o] = add != 0 ? y[yOff + o] + acc : acc;
        }
    }
}
