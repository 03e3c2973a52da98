using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Ops.Conv;

/// <summary>Direct float32 weight gradient on the padded grid: acc[t][o][c] += Σ_q dy'[o][q] ·
/// xp[c][off(t) + q] over one block of positions. A GEMM per tap has only Cg × Og outputs and
/// repacks both operands for every tap; here 4 output channels × 3 taps share each load (12
/// accumulators, 7 loads per 12 FMAs), reading dy' and xp where they lie.</summary>
internal static unsafe class WeightTiles
{
    public static bool Supported => Fma.IsSupported && Vector256.IsHardwareAccelerated;

    /// <param name="dyp">dy on the grid, row (group·og + o) of length qv</param>
    /// <param name="xp">padded input, channel row (group·cg + c) of length plane</param>
    /// <param name="acc">[kk][cout][cg] accumulators</param>
    /// <param name="dBase">where the image's rows start in dyp</param>
    /// <param name="xBase">where the image's channels start in xp</param>
    // Fully optimised from the first call: tiered JIT kept these at tier 0 for the first few
    // hundred milliseconds of a run (a whole short training job or benchmark), several times slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(float[] dyp, long qv, float[] xp, long plane, long[] offsets, int groups, int og, int cg,
        long q0, int len, float[] acc, long dBase, long xBase)
    {
        int kk = offsets.Length, cout = groups * og;
        fixed (float* dp = dyp, xpp = xp, ap = acc)
        {
            for (int grp = 0; grp < groups; grp++)
                for (int o0 = 0; o0 < og; o0 += 4)
                {
                    int ot = Math.Min(4, og - o0);
                    float* d = dp + dBase + (grp * og + o0) * qv + q0;
                    for (int c = 0; c < cg; c++)
                    {
                        float* xrow = xpp + xBase + (grp * cg + c) * plane + q0;
                        for (int t0 = 0; t0 < kk; t0 += 3)
                        {
                            int tt = Math.Min(3, kk - t0);
                            if (ot == 4 && tt == 3)
                                Tile4x3(d, qv, xrow + offsets[t0], xrow + offsets[t0 + 1], xrow + offsets[t0 + 2], len,
                                    ap, ((long)t0 * cout + grp * og + o0) * cg + c, (long)cout * cg, cg);
                            else
                                for (int oi = 0; oi < ot; oi++)
                                    for (int ti = 0; ti < tt; ti++)
                                        ap[((long)(t0 + ti) * cout + grp * og + o0 + oi) * cg + c] +=
                                            Dot(d + oi * qv, xrow + offsets[t0 + ti], len);
                        }
                    }
                }
        }
    }

    /// <summary>acc[(t0+j)·tapStride + i·cg + base] += dot(d_i, x_j) for i &lt; 4, j &lt; 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x3(float* d, long ldd, float* x0, float* x1, float* x2, int len,
        float* acc, long at, long tapStride, int cg)
    {
        float* d0 = d, d1 = d + ldd, d2 = d + 2 * ldd, d3 = d + 3 * ldd;
        Vector256<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        int i = 0;
        for (; i <= len - 8; i += 8)
        {
            var u0 = Vector256.Load(x0 + i);
            var u1 = Vector256.Load(x1 + i);
            var u2 = Vector256.Load(x2 + i);
            var y = Vector256.Load(d0 + i);
            a00 = Fma.MultiplyAdd(y, u0, a00); a01 = Fma.MultiplyAdd(y, u1, a01); a02 = Fma.MultiplyAdd(y, u2, a02);
            y = Vector256.Load(d1 + i);
            a10 = Fma.MultiplyAdd(y, u0, a10); a11 = Fma.MultiplyAdd(y, u1, a11); a12 = Fma.MultiplyAdd(y, u2, a12);
            y = Vector256.Load(d2 + i);
            a20 = Fma.MultiplyAdd(y, u0, a20); a21 = Fma.MultiplyAdd(y, u1, a21); a22 = Fma.MultiplyAdd(y, u2, a22);
            y = Vector256.Load(d3 + i);
            a30 = Fma.MultiplyAdd(y, u0, a30); a31 = Fma.MultiplyAdd(y, u1, a31); a32 = Fma.MultiplyAdd(y, u2, a32);
        }
        Span<float> s = stackalloc float[12];
        s[0] = Vector256.Sum(a00); s[1] = Vector256.Sum(a01); s[2] = Vector256.Sum(a02);
        s[3] = Vector256.Sum(a10); s[4] = Vector256.Sum(a11); s[5] = Vector256.Sum(a12);
        s[6] = Vector256.Sum(a20); s[7] = Vector256.Sum(a21); s[8] = Vector256.Sum(a22);
        s[9] = Vector256.Sum(a30); s[10] = Vector256.Sum(a31); s[11] = Vector256.Sum(a32);
        for (; i < len; i++)
        {
            float v0 = x0[i], v1 = x1[i], v2 = x2[i];
            float y0 = d0[i], y1 = d1[i], y2 = d2[i], y3 = d3[i];
            s[0] += y0 * v0; s[1] += y0 * v1; s[2] += y0 * v2;
            s[3] += y1 * v0; s[4] += y1 * v1; s[5] += y1 * v2;
            s[6] += y2 * v0; s[7] += y2 * v1; s[8] += y2 * v2;
            s[9] += y3 * v0; s[10] += y3 * v1; s[11] += y3 * v2;
        }
        for (int oi = 0; oi < 4; oi++)
            for (int tj = 0; tj < 3; tj++)
                acc[at + tj * tapStride + oi * cg] += s[oi * 3 + tj];
    }

    private static float Dot(float* a, float* b, int len) =>
        System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(a, len), new ReadOnlySpan<float>(b, len));
}
