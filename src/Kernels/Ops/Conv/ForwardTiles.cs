using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Ops.Conv;

/// <summary>Direct float32 forward on the padded grid: y'[o][q] = Σ_c Σ_t w[o][c][t] ·
/// xp[c][off(t) + q] for one block of positions. A register tile of 4 output channels × 24
/// positions (12 accumulators) stays in registers through all channels and taps; each step loads
/// 3 input vectors and broadcasts 4 weights for 12 FMAs, with no packing and no y' round trips.</summary>
internal static unsafe class ForwardTiles
{
    public static bool Supported => Fma.IsSupported && Vector256.IsHardwareAccelerated;

    /// <summary>Weights as [group][c][t][o in group] so that a tile's 4 weights are adjacent.</summary>
    public static void Reorder(float[] w, int groups, int og, int cg, int kk, float[] wt)
    {
        for (int grp = 0; grp < groups; grp++)
            for (int o = 0; o < og; o++)
                for (int c = 0; c < cg; c++)
                    for (int t = 0; t < kk; t++)
                        wt[(((long)grp * cg + c) * kk + t) * og + o] = w[(((long)grp * og + o) * cg + c) * kk + t];
    }

    /// <param name="block">[cout][len] output block (overwritten)</param>
    // Fully optimised from the first call: tiered JIT kept these at tier 0 for the first few
    // hundred milliseconds of a run (a whole short training job or benchmark), several times slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(float[] wt, float[] xp, long plane, long[] offsets, int groups, int og, int cg,
        long q0, int len, float[] block)
    {
        int kk = offsets.Length;
        fixed (float* wp = wt, xpp = xp, bp = block)
        fixed (long* off = offsets)
        {
            for (int grp = 0; grp < groups; grp++)
            {
                float* xg = xpp + (long)grp * cg * plane + q0;
                float* wg = wp + (long)grp * cg * kk * og;
                for (int o0 = 0; o0 < og; o0 += 4)
                {
                    int ot = Math.Min(4, og - o0);
                    float* yrow = bp + ((long)grp * og + o0) * len;
                    int j = 0;
                    if (ot == 4)
                    {
                        for (; j + 24 <= len; j += 24)
                            Tile4x24(wg + o0, og, xg + j, plane, off, kk, cg, yrow + j, len);
                        // The tail reruns one whole tile ending at len instead of going scalar (a
                        // 16×16 image has 286 grid positions: its 22-position scalar tail cost more
                        // than the tiles). Overlapped positions get the same sums, bit for bit.
                        if (j < len && len >= 24)
                        {
                            Tile4x24(wg + o0, og, xg + len - 24, plane, off, kk, cg, yrow + len - 24, len);
                            j = len;
                        }
                    }
                    for (int oi = 0; oi < ot; oi++)
                        for (int q = j; q < len; q++)
                        {
                            float sum = 0;
                            for (int c = 0; c < cg; c++)
                            {
                                float* xr = xg + c * plane + q;
                                float* wr = wg + (long)c * kk * og + o0 + oi;
                                for (int t = 0; t < kk; t++) sum += wr[t * og] * xr[off[t]];
                            }
                            yrow[oi * len + q] = sum;
                        }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x24(float* w, int og, float* x, long plane, long* off, int kk, int cg, float* y, int ldy)
    {
        Vector256<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        for (int c = 0; c < cg; c++)
        {
            float* xr = x + c * plane;
            float* wr = w + (long)c * kk * og;
            for (int t = 0; t < kk; t++, wr += og)
            {
                float* xs = xr + off[t];
                var u0 = Vector256.Load(xs);
                var u1 = Vector256.Load(xs + 8);
                var u2 = Vector256.Load(xs + 16);
                var b = Vector256.Create(wr[0]);
                a00 = Fma.MultiplyAdd(b, u0, a00); a01 = Fma.MultiplyAdd(b, u1, a01); a02 = Fma.MultiplyAdd(b, u2, a02);
                b = Vector256.Create(wr[1]);
                a10 = Fma.MultiplyAdd(b, u0, a10); a11 = Fma.MultiplyAdd(b, u1, a11); a12 = Fma.MultiplyAdd(b, u2, a12);
                b = Vector256.Create(wr[2]);
                a20 = Fma.MultiplyAdd(b, u0, a20); a21 = Fma.MultiplyAdd(b, u1, a21); a22 = Fma.MultiplyAdd(b, u2, a22);
                b = Vector256.Create(wr[3]);
                a30 = Fma.MultiplyAdd(b, u0, a30); a31 = Fma.MultiplyAdd(b, u1, a31); a32 = Fma.MultiplyAdd(b, u2, a32);
            }
        }
        a00.Store(y); a01.Store(y + 8); a02.Store(y + 16);
        y += ldy;
        a10.Store(y); a11.Store(y + 8); a12.Store(y + 16);
        y += ldy;
        a20.Store(y); a21.Store(y + 8); a22.Store(y + 16);
        y += ldy;
        a30.Store(y); a31.Store(y + 8); a32.Store(y + 16);
    }
}
