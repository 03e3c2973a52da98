using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Kernels.Cpu;
using Kernels.Ops.Gemm;

namespace Kernels.Ops.Conv;

/// <summary>Unit-stride convolution without a column matrix (forward and both gradients). The input
/// is copied once into a zero-padded volume xp; the output is computed on xp's grid (positions q = d·Hp·Wp + h·Wp + w,
/// of which those with h &lt; OH and w &lt; OW are real). On that grid the operand of kernel tap t
/// is xp itself shifted by a constant offset, so y' = Σ_t W_t · xp[off(t) + q] is one GEMM per tap
/// (K = channels per group) reading xp in place, accumulated into a block of y' that stays in
/// cache. The real positions are then copied to y. This writes no kk-fold column matrix: the
/// im2col path moves kk times the input through memory, which dominated 3×3×3 convolutions.</summary>
internal static class PaddedGrid
{
    /// <summary>Grid positions per y' block (the block holds OutChannels × this many values).</summary>
    internal static int BlockPositions = 1 << 20;

    /// <summary>Per-tap GEMMs below this many flops are handed to the cores as whole position
    /// blocks (GEMMs this small run on the calling thread); bigger ones run one block at a time
    /// and the GEMM splits them itself. Never both: a parallel GEMM inside a parallel loop
    /// oversubscribes the two cores and waits on the thread pool.</summary>
    internal const long SmallGemmFlops = 3_000_000;

    /// <summary>Tests switch the direct float32 tiles (forward and weight gradient) off to reach
    /// the GEMM form.</summary>
    internal static bool DirectTiles = true;

    /// <summary>Positions per block, and whether blocks run in parallel. tapFlops is the work of
    /// one tap per grid position (2·og·cg·groups).</summary>
    private static (int Qc, bool Outer) Blocking(long qv, long tapFlops)
    {
        bool outer = tapFlops * 256 < SmallGemmFlops;
        long qc = outer ? Math.Max(256, SmallGemmFlops / tapFlops) : 4096;
        return ((int)Math.Max(1, Math.Min(Math.Min(qc, BlockPositions), qv)), outer);
    }

    /// <summary>Runs body(b0, b1) over blocks: split across the cores, or on this thread.</summary>
    private static void ForBlocks(long blocks, bool outer, Action<long, long> body)
    {
        if (outer) CpuParallel.For(blocks, CpuParallel.InlineWork, body);
        else body(0, blocks);
    }

    /// <summary>Most elements of padded images (and of dy on the grid) held at once. Several small
    /// images are padded together so that their position blocks go to the cores as one loop: a
    /// 16×16 image is a single block, and image by image that left one core idle.</summary>
    internal static long ImageBudget = 1 << 21;

    /// <summary>Images per chunk: as many as the budget allows for the larger per-image buffer.</summary>
    private static int ImagesPerChunk(int batch, long perImage) =>
        (int)Math.Clamp(ImageBudget / Math.Max(1, perImage), 1, Math.Max(1, batch));

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
        Run(s2, dy, w2Buf, CpuEpilogue<T>.Of(bias), dx);
    }

    // Run, BackwardWeights and their loops are optimised from the first call: tiered JIT left them
    // at tier 0 through the first steps of a training run (several times slower).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<T>(in ConvShape s, DeviceBuffer x, DeviceBuffer w, CpuEpilogue<T> epilogue, DeviceBuffer y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new Geometry(s);
        int dp = g.D + 2 * g.PD, hp = g.H + 2 * g.PH, wp = g.W + 2 * g.PW;
        long plane = (long)dp * hp * wp, hw = (long)hp * wp;
        long qv = (g.OD - 1) * hw + (long)(g.OH - 1) * wp + g.OW; // one past the last real position
        int kk = g.KernelVolume, groups = s.Groups, og = s.OutPerGroup, cg = s.InPerGroup;
        // float32 with FMA: register tiles straight from xp (no GEMM inside, so blocks go to the cores).
        bool direct = typeof(T) == typeof(float) && ForwardTiles.Supported && DirectTiles;
        var (qc, outer) = direct ? ((int)Math.Min(Math.Min(1536, BlockPositions), qv), true) : Blocking(qv, 2L * og * cg * groups);
        var device = y.Device;
        var gemm = device.Kernels.Get<IGemm>();

        long xpImage = s.InChannels * plane;
        int chunk = ImagesPerChunk(s.Batch, xpImage);
        using var xpBuf = device.Allocate(y.DType, chunk * xpImage, zero: true);
        using var wtBuf = device.Allocate(y.DType, (long)kk * s.OutChannels * cg);
        T[] xa = CpuBuffer.Array<T>(x), wa = CpuBuffer.Array<T>(w), ya = CpuBuffer.Array<T>(y);
        T[] xp = CpuBuffer.Array<T>(xpBuf), wt = CpuBuffer.Array<T>(wtBuf);

        // wt[t][o][c] = w[o][c][t]: each tap's weights as a contiguous Cout × Cg matrix.
        if (direct) ForwardTiles.Reorder((float[])(object)wa, groups, og, cg, kk, (float[])(object)wt);
        else
            for (int o = 0; o < s.OutChannels; o++)
                for (int c = 0; c < cg; c++)
                    for (int t = 0; t < kk; t++)
                        wt[((long)t * s.OutChannels + o) * cg + c] = wa[((long)o * cg + c) * kk + t];

        var offsets = TapOffsets(g, hw, wp);
        var geo = g;
        int cout = s.OutChannels;
        long blocks = (qv + qc - 1) / qc;
        for (int n0 = 0; n0 < s.Batch; n0 += chunk)
        {
            int ni = Math.Min(chunk, s.Batch - n0);
            // Images are contiguous in x and in xp, so the chunk pads as ni·Cin channels.
            Pad(g, ni * s.InChannels, xa, (long)n0 * s.InChannels * g.InPlane, xp, dp, hp, wp);
            // (image, block) pairs go to the cores whole (each with its own y' block), so the
            // per-tap GEMMs are small and mostly run on the calling thread: no hand-off per GEMM.
            ForBlocks(ni * blocks, outer, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (b0, b1) =>
            {
                using var blockBuf = device.Allocate(y.DType, (long)cout * qc);
                T[] block = CpuBuffer.Array<T>(blockBuf);
                for (long item = b0; item < b1; item++)
                {
                    long i = item / blocks, q0 = item % blocks * qc, xBase = i * xpImage;
                    long yOffset = (n0 + i) * cout * geo.OutPlane;
                    int len = (int)Math.Min(qc, qv - q0);
                    if (direct)
                    {
                        // The tiles address xp from q0 only, so the image's base rides on it.
                        ForwardTiles.Block((float[])(object)wt, (float[])(object)xp, plane, offsets, groups, og, cg, xBase + q0, len,
                            (float[])(object)block);
                        Scatter(geo, cout, block, q0, len, hp, wp, ya, yOffset, epilogue);
                        continue;
                    }
                    for (int t = 0; t < kk; t++)
                    {
                        // block_g (og × len) (+)= wt[t]_g (og × cg) · xp_g[off(t) + q0 ..] (cg × len)
                        var shape = new GemmShape(og, len, cg, Lda: cg, Ldb: (int)plane, Ldc: len,
                            OffsetA: (long)t * cout * cg, OffsetB: xBase + offsets[t] + q0,
                            Batch: groups, StrideA: (long)og * cg, StrideB: cg * plane, StrideC: (long)og * len);
                        gemm.Gemm(shape, 1.0, wtBuf, xpBuf, t == 0 ? 0.0 : 1.0, blockBuf);
                    }
                    Scatter(geo, cout, block, q0, len, hp, wp, ya, yOffset, epilogue);
                }
            });
        }
    }

    /// <summary>Applies to the weight gradient under the same conditions as to the forward.</summary>
    public static bool AppliesToWeights(in ConvShape s) => Applies(s);

    /// <summary>dw[o][c][t] = Σ_n Σ_q dy'[n, o, q] · xp[n, c, off(t) + q], with dy placed on the
    /// padded grid (zeros at the positions that are not real). Each core sums its share of
    /// position blocks into its own accumulator; the accumulators are added at the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BackwardWeights<T>(in ConvShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new Geometry(s);
        int dp = g.D + 2 * g.PD, hp = g.H + 2 * g.PH, wp = g.W + 2 * g.PW;
        long plane = (long)dp * hp * wp, hw = (long)hp * wp;
        long qv = (g.OD - 1) * hw + (long)(g.OH - 1) * wp + g.OW;
        int kk = g.KernelVolume, groups = s.Groups, og = s.OutPerGroup, cg = s.InPerGroup, cout = s.OutChannels;
        // float32 with FMA sums taps directly (no GEMM inside, so blocks always go to the cores).
        bool direct = typeof(T) == typeof(float) && WeightTiles.Supported && DirectTiles;
        var (qc, outer) = direct ? ((int)Math.Min(Math.Min(2048, BlockPositions), qv), true) : Blocking(qv, 2L * og * cg * groups);
        long blocks = (qv + qc - 1) / qc;
        long xpImage = s.InChannels * plane, dypImage = cout * qv;
        int chunk = ImagesPerChunk(s.Batch, Math.Max(xpImage, dypImage));
        // Every chunk is split into the same number of shares, one accumulator each.
        int workers = outer ? (int)Math.Min(chunk * blocks, Math.Max(1, CpuParallel.Threads)) : 1;
        var device = dw.Device;
        var gemm = device.Kernels.Get<IGemm>();
        long accLength = (long)kk * cout * cg;

        using var xpBuf = device.Allocate(dw.DType, chunk * xpImage, zero: true);
        using var dypBuf = device.Allocate(dw.DType, chunk * dypImage, zero: true);
        var accBufs = new DeviceBuffer[workers];
        try
        {
            for (int i = 0; i < workers; i++) accBufs[i] = device.Allocate(dw.DType, accLength, zero: true);
            T[] xa = CpuBuffer.Array<T>(x), dya = CpuBuffer.Array<T>(dy), xp = CpuBuffer.Array<T>(xpBuf), dyp = CpuBuffer.Array<T>(dypBuf);
            var offsets = TapOffsets(g, hw, wp);
            var geo = g;
            for (int n0 = 0; n0 < s.Batch; n0 += chunk)
            {
                int ni = Math.Min(chunk, s.Batch - n0);
                // Images are contiguous in x and in xp (and dy, dyp), so a chunk is ni·C rows.
                Pad(g, ni * s.InChannels, xa, (long)n0 * s.InChannels * g.InPlane, xp, dp, hp, wp);
                long dyOffset = (long)n0 * cout * g.OutPlane;
                CpuParallel.For((long)ni * cout, g.OutPlane, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (o0, o1) =>
                {
                    for (long o = o0; o < o1; o++)
                        for (int d = 0; d < geo.OD; d++)
                            for (int h = 0; h < geo.OH; h++)
                                dya.AsSpan((int)(dyOffset + ((o * geo.OD + d) * geo.OH + h) * geo.OW), geo.OW)
                                    .CopyTo(dyp.AsSpan((int)(o * qv + d * hw + (long)h * wp), geo.OW));
                });
                long items = ni * blocks, perWorker = (items + workers - 1) / workers;
                ForBlocks(workers, outer, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (w0, w1) =>
                {
                    for (long wk = w0; wk < w1; wk++)
                        for (long item = wk * perWorker; item < Math.Min(items, (wk + 1) * perWorker); item++)
                        {
                            long i = item / blocks, q0 = item % blocks * qc;
                            int len = (int)Math.Min(qc, qv - q0);
                            if (direct)
                            {
                                WeightTiles.Block((float[])(object)dyp, qv, (float[])(object)xp, plane, offsets, groups, og, cg,
                                    q0, len, CpuBuffer.Array<float>(accBufs[wk]), i * dypImage, i * xpImage);
                                continue;
                            }
                            for (int t = 0; t < kk; t++)
                            {
                                // acc[t]_g (og × cg) += dy'_g (og × len) · xp_g[off(t) + q0 ..]ᵀ (len × cg)
                                var shape = new GemmShape(og, cg, len, TransB: true, Lda: (int)qv, Ldb: (int)plane, Ldc: cg,
                                    OffsetA: i * dypImage + q0, OffsetB: i * xpImage + offsets[t] + q0, OffsetC: (long)t * cout * cg,
                                    Batch: groups, StrideA: og * qv, StrideB: cg * plane, StrideC: (long)og * cg);
                                gemm.Gemm(shape, 1.0, dypBuf, xpBuf, 1.0, accBufs[wk]);
                            }
                        }
                });
            }
            // dw[o][c][t] = Σ_workers acc[t][o][c]
            T[] dwa = CpuBuffer.Array<T>(dw);
            var accs = accBufs.Select(CpuBuffer.Array<T>).ToArray();
            for (int o = 0; o < cout; o++)
                for (int c = 0; c < cg; c++)
                    for (int t = 0; t < kk; t++)
                    {
                        long a = ((long)t * cout + o) * cg + c;
                        T sum = T.Zero;
                        foreach (var acc in accs) sum += acc[a];
                        dwa[((long)o * cg + c) * kk + t] = sum;
                    }
        }
        finally
        {
            foreach (var b in accBufs) b?.Dispose();
        }
    }

    private static long[] TapOffsets(in Geometry g, long hw, int wp)
    {
        var offsets = new long[g.KernelVolume];
        for (int kd = 0, t = 0; kd < g.KD; kd++)
            for (int kh = 0; kh < g.KH; kh++)
                for (int kw = 0; kw < g.KW; kw++, t++)
                    offsets[t] = kd * g.DD * hw + (long)kh * g.DH * wp + kw * g.DW;
        return offsets;
    }

    /// <summary>Copies one image into the interior of the padded volume (its border stays zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pad<T>(in Geometry g, int channels, T[] x, long xOffset, T[] xp, int dp, int hp, int wp)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var geo = g;
        CpuParallel.For(channels, geo.InPlane, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (c0, c1) =>
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

    /// <summary>Moves the real positions of a y' block into y through the epilogue (bias, and for
    /// the fused forward scale / shift / activation) while the block is in cache.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scatter<T>(in Geometry g, int channels, T[] block, long q0, int len, int hp, int wp,
        T[] y, long yOffset, CpuEpilogue<T> epilogue) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long hw = (long)hp * wp;
        for (long o = 0; o < channels; o++)
        {
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
                    epilogue.Apply(src, dst, o);
                }
                q = rowEnd;
            }
        }
    }
}
