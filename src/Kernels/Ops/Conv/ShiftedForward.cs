using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Ops.Gemm;

namespace Kernels.Ops.Conv;

/// <summary>Unit-stride forward without a column matrix. The input is copied once into a
/// zero-padded volume xp; the output is computed on xp's grid (positions q = d·Hp·Wp + h·Wp + w,
/// of which those with h &lt; OH and w &lt; OW are real). On that grid the operand of kernel tap t
/// is xp itself shifted by a constant offset, so y' = Σ_t W_t · xp[off(t) + q] is one GEMM per tap
/// (K = channels per group) reading xp in place, accumulated into a block of y' that stays in
/// cache. The real positions are then copied to y. This writes no kk-fold column matrix: the
/// im2col path moves kk times the input through memory, which dominated 3×3×3 convolutions.</summary>
internal static class ShiftedForward
{
    /// <summary>Grid positions per y' block (the block holds OutChannels × this many values).</summary>
    internal static int BlockPositions = 1024;

    /// <summary>Fewest input channels per group for which this path is taken.</summary>
    internal static int MinInPerGroup = 8;

    /// <summary>Worth it when a GEMM per tap has enough depth; depthwise-like shapes use im2col.</summary>
    public static bool Applies(in ConvShape s) => s.InPerGroup >= MinInPerGroup && !s.IsPointwise && Fits(s);

    /// <summary>Unit stride, and no output position needs input beyond the padded volume (a
    /// transposed convolution's output padding can ask for more than the formula gives).</summary>
    private static bool Fits(in ConvShape s)
    {
        for (int i = 0; i < s.SpatialRank; i++)
            if (s.Stride[i] != 1 || s.Padding[i] < 0 ||
                s.OutSize[i] > s.InSize[i] + 2 * s.Padding[i] - s.Dilation[i] * (s.Kernel[i] - 1)) return false;
        return true;
    }

    /// <summary>The data gradient of a unit-stride convolution is itself a unit-stride convolution
    /// of dy with the kernel flipped and its channel roles swapped, padded by d(k − 1) − p.</summary>
    public static bool AppliesToBackwardData(in ConvShape s) =>
        s.OutPerGroup >= MinInPerGroup && !s.IsPointwise && Fits(DataGradientShape(s));

    private static ConvShape DataGradientShape(in ConvShape s)
    {
        var pad = new int[s.SpatialRank];
        for (int i = 0; i < pad.Length; i++) pad[i] = s.Dilation[i] * (s.Kernel[i] - 1) - s.Padding[i];
        return new ConvShape(s.Batch, s.OutChannels, s.InChannels, s.OutSize, s.InSize, s.Kernel, s.Stride, pad,
            s.Dilation, s.Groups);
    }

    /// <summary>dx = conv(dy, flip(w) with in/out channels swapped per group) (+ bias per input channel).</summary>
    public static void BackwardData<T>(in ConvShape s, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx, DeviceBuffer? bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s2 = DataGradientShape(s);
        int kk = (int)s.KernelVolume, og = s.OutPerGroup, cg = s.InPerGroup;
        using var w2Buf = dx.Device.Allocate(dx.DType, s.WeightElements);
        T[] wa = CpuBuffer.Array<T>(w), w2 = CpuBuffer.Array<T>(w2Buf);
        // w2[g·cg + c][o][t] = w[g·og + o][c][kk − 1 − t]
        for (int grp = 0; grp < s.Groups; grp++)
            for (int c = 0; c < cg; c++)
                for (int o = 0; o < og; o++)
                {
                    long dst = (((long)grp * cg + c) * og + o) * kk, src = (((long)grp * og + o) * cg + c) * kk;
                    for (int t = 0; t < kk; t++) w2[dst + t] = wa[src + kk - 1 - t];
                }
        Run<T>(s2, dy, w2Buf, bias, dx);
    }

    public static void Run<T>(in ConvShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new Geometry(s);
        int dp = g.D + 2 * g.PD, hp = g.H + 2 * g.PH, wp = g.W + 2 * g.PW;
        long plane = (long)dp * hp * wp, hw = (long)hp * wp;
        long qv = (g.OD - 1) * hw + (long)(g.OH - 1) * wp + g.OW; // one past the last real position
        int kk = g.KernelVolume, groups = s.Groups, og = s.OutPerGroup, cg = s.InPerGroup;
        int qc = (int)Math.Min(qv, BlockPositions);
        var device = y.Device;
        var gemm = device.Kernels.Get<IGemm>();

        using var xpBuf = device.Allocate(y.DType, s.InChannels * plane, zero: true);
        using var wtBuf = device.Allocate(y.DType, (long)kk * s.OutChannels * cg);
        T[] xa = CpuBuffer.Array<T>(x), wa = CpuBuffer.Array<T>(w), ya = CpuBuffer.Array<T>(y);
        T[] xp = CpuBuffer.Array<T>(xpBuf), wt = CpuBuffer.Array<T>(wtBuf);
        T[]? ba = bias is null ? null : CpuBuffer.Array<T>(bias);

        // wt[t][o][c] = w[o][c][t]: each tap's weights as a contiguous Cout × Cg matrix.
        for (int o = 0; o < s.OutChannels; o++)
            for (int c = 0; c < cg; c++)
                for (int t = 0; t < kk; t++)
                    wt[((long)t * s.OutChannels + o) * cg + c] = wa[((long)o * cg + c) * kk + t];

        var offsets = new long[kk];
        for (int kd = 0, t = 0; kd < g.KD; kd++)
            for (int kh = 0; kh < g.KH; kh++)
                for (int kw = 0; kw < g.KW; kw++, t++)
                    offsets[t] = kd * g.DD * hw + (long)kh * g.DH * wp + kw * g.DW;

        var geo = g;
        int cout = s.OutChannels;
        long blocks = (qv + qc - 1) / qc;
        for (int n = 0; n < s.Batch; n++)
        {
            Pad(g, s.InChannels, xa, (long)n * s.InChannels * g.InPlane, xp, dp, hp, wp);
            long yOffset = (long)n * cout * g.OutPlane;
            // Blocks go to the cores whole (each with its own y' block), so the per-tap GEMMs are
            // small and mostly run on the calling thread: no hand-off per GEMM.
            CpuParallel.For(blocks, (long)qc * cout * cg * kk, (b0, b1) =>
            {
                using var blockBuf = device.Allocate(y.DType, (long)cout * qc);
                T[] block = CpuBuffer.Array<T>(blockBuf);
                for (long bi = b0; bi < b1; bi++)
                {
                    long q0 = bi * qc;
                    int len = (int)Math.Min(qc, qv - q0);
                    for (int t = 0; t < kk; t++)
                    {
                        // block_g (og × len) (+)= wt[t]_g (og × cg) · xp_g[off(t) + q0 ..] (cg × len)
                        var shape = new GemmShape(og, len, cg, Lda: cg, Ldb: (int)plane, Ldc: len,
                            OffsetA: (long)t * cout * cg, OffsetB: offsets[t] + q0,
                            Batch: groups, StrideA: (long)og * cg, StrideB: cg * plane, StrideC: (long)og * len);
                        gemm.Gemm(shape, 1.0, wtBuf, xpBuf, t == 0 ? 0.0 : 1.0, blockBuf);
                    }
                    Scatter(geo, cout, block, q0, len, hp, wp, ya, yOffset, ba);
                }
            });
        }
    }

    /// <summary>Copies one image into the interior of the padded volume (its border stays zero).</summary>
    private static void Pad<T>(in Geometry g, int channels, T[] x, long xOffset, T[] xp, int dp, int hp, int wp)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var geo = g;
        CpuParallel.For(channels, geo.InPlane, (c0, c1) =>
        {
            for (long c = c0; c < c1; c++)
                for (int d = 0; d < geo.D; d++)
                    for (int h = 0; h < geo.H; h++)
                    {
                        long src = xOffset + ((c * geo.D + d) * geo.H + h) * geo.W;
                        long dst = ((c * dp + d + geo.PD) * hp + h + geo.PH) * wp + geo.PW;
                        x.AsSpan((int)src, geo.W).CopyTo(xp.AsSpan((int)dst, geo.W));
                    }
        });
    }

    /// <summary>Moves the real positions of a y' block into y (adding the bias).</summary>
    private static void Scatter<T>(in Geometry g, int channels, T[] block, long q0, int len, int hp, int wp,
        T[] y, long yOffset, T[]? bias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long hw = (long)hp * wp;
        for (long o = 0; o < channels; o++)
        {
            T b = bias is null ? T.Zero : bias[o];
            long q = q0, end = q0 + len;
            while (q < end)
            {
                int d = (int)(q / hw), h = (int)(q % hw / wp), wcol = (int)(q % wp);
                long rowEnd = Math.Min(end, q - wcol + wp);
                if (h < g.OH && wcol < g.OW)
                {
                    int run = (int)Math.Min(rowEnd, q - wcol + g.OW) - (int)q;
                    var src = block.AsSpan((int)(o * len + q - q0), run);
                    var dst = y.AsSpan((int)(yOffset + ((o * g.OD + d) * g.OH + h) * g.OW + wcol), run);
                    if (bias is null) src.CopyTo(dst);
                    else TensorPrimitives.Add(src, b, dst);
                }
                q = rowEnd;
            }
        }
    }
}
