using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Kernels.Cpu;

namespace Kernels.Ops.Conv;

/// <summary>A convolution's geometry widened to three spatial axes (missing outer axes have size 1,
/// kernel 1, stride 1, no padding), so one im2col / col2im serves 1-D, 2-D and 3-D.</summary>
internal readonly struct Geometry
{
    public readonly int D, H, W, OD, OH, OW, KD, KH, KW, SD, SH, SW, PD, PH, PW, DD, DH, DW;

    public Geometry(in ConvShape s)
    {
        int r = s.SpatialRank;
        int At(int[] a, int axis, int missing) => axis - (3 - r) >= 0 ? a[axis - (3 - r)] : missing;
        D = At(s.InSize, 0, 1); H = At(s.InSize, 1, 1); W = At(s.InSize, 2, 1);
        OD = At(s.OutSize, 0, 1); OH = At(s.OutSize, 1, 1); OW = At(s.OutSize, 2, 1);
        KD = At(s.Kernel, 0, 1); KH = At(s.Kernel, 1, 1); KW = At(s.Kernel, 2, 1);
        SD = At(s.Stride, 0, 1); SH = At(s.Stride, 1, 1); SW = At(s.Stride, 2, 1);
        PD = At(s.Padding, 0, 0); PH = At(s.Padding, 1, 0); PW = At(s.Padding, 2, 0);
        DD = At(s.Dilation, 0, 1); DH = At(s.Dilation, 1, 1); DW = At(s.Dilation, 2, 1);
    }

    public int KernelVolume => KD * KH * KW;
    public long InPlane => (long)D * H * W;
    public long OutPlane => (long)OD * OH * OW;
}

/// <summary>Column matrices: row (c, kd, kh, kw) holds, for each output position p in a range,
/// the input value that kernel tap meets at p (zero in the padding).</summary>
internal static class Columns
{
    /// <summary>Fills col rows for <paramref name="images"/> images: row R = i·channels·kk + c·kk + tap,
    /// column j = output position p0 + j. x holds image i at xOffset + i·channels·InPlane.</summary>
    public static void Im2Col<T>(in Geometry g, int images, int channels, T[] x, long xOffset, long p0, int pc, T[] col)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var geo = g;
        int kk = g.KernelVolume;
        long rowsPerImage = (long)channels * kk;
        CpuParallel.For(images * rowsPerImage, pc, (r0, r1) =>
        {
            for (long r = r0; r < r1; r++)
            {
                long i = r / rowsPerImage, rr = r % rowsPerImage;
                int c = (int)(rr / kk), tap = (int)(rr % kk);
                long plane = xOffset + (i * channels + c) * geo.InPlane;
                FillRow(geo, tap, x, plane, p0, col.AsSpan((int)(r * pc), pc));
            }
        });
    }

    /// <summary>Adds col rows back into dx (the adjoint of <see cref="Im2Col{T}"/>). Work is split by
    /// (image, channel) so no two threads write the same element.</summary>
    public static void Col2Im<T>(in Geometry g, int images, int channels, T[] col, long p0, int pc, T[] dx, long dxOffset)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var geo = g;
        int kk = g.KernelVolume;
        CpuParallel.For((long)images * channels, (long)kk * pc, (u0, u1) =>
        {
            for (long u = u0; u < u1; u++)
            {
                long plane = dxOffset + u * geo.InPlane;
                for (int tap = 0; tap < kk; tap++)
                    AddRow(geo, tap, col.AsSpan((int)((u * kk + tap) * pc), pc), dx, plane, p0);
            }
        });
    }

    // Fully optimised from the first call: tiered JIT kept these at tier 0 for the first few
    // hundred milliseconds of a run (a whole short training job or benchmark), several times slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FillRow<T>(in Geometry g, int tap, T[] x, long plane, long p0, Span<T> dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int kw = tap % g.KW, kh = tap / g.KW % g.KH, kd = tap / (g.KW * g.KH);
        int offD = kd * g.DD - g.PD, offH = kh * g.DH - g.PH, offW = kw * g.DW - g.PW;
        long ohw = (long)g.OH * g.OW;
        int od = (int)(p0 / ohw), oh = (int)(p0 % ohw / g.OW), ow = (int)(p0 % g.OW);
        int idx = 0, pc = dst.Length;
        while (idx < pc)
        {
            int run = Math.Min(g.OW - ow, pc - idx);
            var seg = dst.Slice(idx, run);
            int id = od * g.SD + offD, ih = oh * g.SH + offH;
            if ((uint)id >= (uint)g.D || (uint)ih >= (uint)g.H) seg.Clear();
            else
            {
                long rowBase = plane + ((long)id * g.H + ih) * g.W;
                int iw0 = ow * g.SW + offW;
                if (g.SW == 1)
                {
                    // Valid taps form one contiguous run; zeros on either side are the padding.
                    int lo = Math.Clamp(-iw0, 0, run), hi = Math.Clamp(g.W - iw0, lo, run);
                    seg[..lo].Clear();
                    if (hi > lo) x.AsSpan((int)(rowBase + iw0 + lo), hi - lo).CopyTo(seg[lo..hi]);
                    seg[hi..].Clear();
                }
                else
                {
                    for (int j = 0, iw = iw0; j < run; j++, iw += g.SW)
                        seg[j] = (uint)iw < (uint)g.W ? x[rowBase + iw] : T.Zero;
                }
            }
            idx += run;
            ow += run;
            if (ow == g.OW)
            {
                ow = 0;
                if (++oh == g.OH) { oh = 0; od++; }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddRow<T>(in Geometry g, int tap, ReadOnlySpan<T> src, T[] dx, long plane, long p0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int kw = tap % g.KW, kh = tap / g.KW % g.KH, kd = tap / (g.KW * g.KH);
        int offD = kd * g.DD - g.PD, offH = kh * g.DH - g.PH, offW = kw * g.DW - g.PW;
        long ohw = (long)g.OH * g.OW;
        int od = (int)(p0 / ohw), oh = (int)(p0 % ohw / g.OW), ow = (int)(p0 % g.OW);
        int idx = 0, pc = src.Length;
        while (idx < pc)
        {
            int run = Math.Min(g.OW - ow, pc - idx);
            int id = od * g.SD + offD, ih = oh * g.SH + offH;
            if ((uint)id < (uint)g.D && (uint)ih < (uint)g.H)
            {
                var seg = src.Slice(idx, run);
                long rowBase = plane + ((long)id * g.H + ih) * g.W;
                int iw0 = ow * g.SW + offW;
                if (g.SW == 1)
                {
                    int lo = Math.Clamp(-iw0, 0, run), hi = Math.Clamp(g.W - iw0, lo, run);
                    if (hi > lo)
                    {
                        var d = dx.AsSpan((int)(rowBase + iw0 + lo), hi - lo);
                        TensorPrimitives.Add(d, seg[lo..hi], d);
                    }
                }
                else
                {
                    for (int j = 0, iw = iw0; j < run; j++, iw += g.SW)
                        if ((uint)iw < (uint)g.W) dx[rowBase + iw] += seg[j];
                }
            }
            idx += run;
            ow += run;
            if (ow == g.OW)
            {
                ow = 0;
                if (++oh == g.OH) { oh = 0; od++; }
            }
        }
    }
}
