using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Kernels.Cpu;

namespace Kernels.Ops.Pool;

/// <summary>Float32 fast path for the most common max pooling, a 2×2 window with stride 2 and no
/// padding (per depth slice: kernel, stride 1 and no padding along D). The generic loop spends
/// most of its time on window clipping and index arithmetic; here every output reads its four
/// cells directly. Same rules as the generic kernel: scan order (h, w), (h, w+1), (h+1, w),
/// (h+1, w+1); the first strict maximum wins and the first NaN wins outright.</summary>
internal static class MaxPoolF32
{
    public static bool Applies(in PoolShape s) =>
        s.KH == 2 && s.KW == 2 && s.SH == 2 && s.SW == 2 && s.PH == 0 && s.PW == 0
        && s.KD == 1 && s.SD == 1 && s.PD == 0;

    public static void Forward2x2(PoolShape s, float[] x, float[] y, int[] argmax)
    {
        int inW = s.InW, hw = s.InH * s.InW, outH = s.OutH, outW = s.OutW, outD = s.OutD;
        CpuParallel.For(s.Planes, Math.Max(1, s.OutPlane * 4), (p0, p1) =>
        {
            for (long p = p0; p < p1; p++)
            {
                var xp = new ReadOnlySpan<float>(x, (int)(p * s.InPlane), (int)s.InPlane);
                var yp = new Span<float>(y, (int)(p * s.OutPlane), (int)s.OutPlane);
                var ip = new Span<int>(argmax, (int)(p * s.OutPlane), (int)s.OutPlane);
                int o = 0;
                for (int d = 0; d < outD; d++)
                    for (int oh = 0; oh < outH; oh++)
                    {
                        int r0 = d * hw + 2 * oh * inW;
                        var row0 = xp.Slice(r0, 2 * outW);
                        var row1 = xp.Slice(r0 + inW, 2 * outW);
                        var yr = yp.Slice(o, outW);
                        var ir = ip.Slice(o, outW);
                        int ow = Avx2.IsSupported ? Row8(row0, row1, yr, ir, r0, inW) : 0;
                        for (; ow < yr.Length; ow++)
                        {
                            int c = 2 * ow, i0 = r0 + c;
                            float best = row0[c];
                            int bi = i0;
                            Step(row0[c + 1], i0 + 1, ref best, ref bi);
                            Step(row1[c], i0 + inW, ref best, ref bi);
                            Step(row1[c + 1], i0 + inW + 1, ref best, ref bi);
                            yr[ow] = best;
                            ir[ow] = bi;
                        }
                        o += outW;
                    }
            }
        });
    }

    /// <summary>Eight outputs at a time, branch-free (which cell wins is close to random on real
    /// data, so the scalar loop pays a misprediction on most outputs). Each 8-float load holds the
    /// (w, w+1) pairs of four outputs; pairs are merged in lanes, first within each row, then row 0
    /// against row 1, which keeps the scan order; the even lanes of two such vectors are then
    /// packed into eight results. Returns the number of outputs written.</summary>
    private static int Row8(ReadOnlySpan<float> row0, ReadOnlySpan<float> row1, Span<float> y, Span<int> idx, int r0, int inW)
    {
        var swap = Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6);
        var one = Vector256.Create(1);
        var down = Vector256.Create(inW);
        var lane = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
        int ow = 0;
        for (; ow + 8 <= y.Length; ow += 8)
        {
            int c = 2 * ow;
            var (m0, o0) = Quad(Vector256.Create(row0.Slice(c, 8)), Vector256.Create(row1.Slice(c, 8)), swap, one, down);
            var (m1, o1) = Quad(Vector256.Create(row0.Slice(c + 8, 8)), Vector256.Create(row1.Slice(c + 8, 8)), swap, one, down);
            // Even lanes of m0 then m1, in order: shuffle picks lanes 0, 2 of each 128-bit half,
            // the 64-bit permute puts the halves back in sequence.
            var m = Avx2.Permute4x64(Avx.Shuffle(m0, m1, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();
            var o = Avx2.Permute4x64(Avx.Shuffle(o0.AsSingle(), o1.AsSingle(), 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsInt32();
            m.CopyTo(y.Slice(ow, 8));
            (o + lane + Vector256.Create(r0 + c)).CopyTo(idx.Slice(ow, 8));
        }
        return ow;
    }

    /// <summary>Even lane 2j: the winner of the window whose row-0 pair is lanes (2j, 2j+1) of a and
    /// row-1 pair the same lanes of b, and its offset from the window's first cell.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Best, Vector256<int> Offset) Quad(Vector256<float> a, Vector256<float> b,
        Vector256<int> swap, Vector256<int> one, Vector256<int> down)
    {
        var t0 = Take(a, Vector256.Shuffle(a, swap));
        var m0 = Vector256.ConditionalSelect(t0, Vector256.Shuffle(a, swap), a);
        var t1 = Take(b, Vector256.Shuffle(b, swap));
        var m1 = Vector256.ConditionalSelect(t1, Vector256.Shuffle(b, swap), b);
        var o0 = one & t0.AsInt32();
        var o1 = down + (one & t1.AsInt32());
        var t = Take(m0, m1);
        return (Vector256.ConditionalSelect(t, m1, m0), Vector256.ConditionalSelect(t.AsInt32(), o1, o0));
    }

    /// <summary>Lanes where the later value v replaces the earlier best: v &gt; best or v NaN, and best
    /// not NaN (the first NaN wins).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Take(Vector256<float> best, Vector256<float> v) =>
        Vector256.AndNot(Vector256.Equals(best, best), Vector256.LessThanOrEqual(v, best));

    /// <summary>Takes v when it is larger or NaN, unless a NaN is already held: !(v ≤ best) is true
    /// exactly for v &gt; best or v NaN. Written as selects, not a branch: on real data which cell
    /// wins is close to random, and mispredictions dominated the cost.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(float v, int i, ref float best, ref int bi)
    {
        bool take = !(v <= best) & !float.IsNaN(best);
        best = take ? v : best;
        bi = take ? i : bi;
    }
}
