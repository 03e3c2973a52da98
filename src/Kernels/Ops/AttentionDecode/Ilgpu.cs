using ILGPU;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Ops.Dropout;
using Kernels.Registry;

namespace Kernels.Ops.AttentionDecode;

/// <summary>ILGPU attention decoding (float32). Every kernel gives one WARP a row and needs no
/// group barrier (only Warp.Barrier around the warp's own row of shared memory). The forward and
/// the dq kernel take a row (image, head, query) and walk the tokens in chunks of 32, one token
/// per lane (its score is a dot product over the head dim, the query row read as a broadcast);
/// the chunk's weights are then published in the warp's shared row while each lane accumulates
/// the output columns it owns (d = lane + 32·r, four per lane: the head dim is covered in blocks
/// of 128, so any head dim works). The softmax is two passes over the tokens: an online max/sum
/// per lane, combined by warp reductions, then the write pass. The dk/dv kernel takes a row
/// (image, head, token) and gathers over the queries, one query per lane, so nothing is
/// accumulated across warps (no atomics); it reads the row sums D = Σⱼ dP·P that the dq kernel
/// leaves in a scratch buffer.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class AttentionDecodeIlgpu(Device device) : IAttentionDecode
{
    /// <summary>Threads per group: 4 warps on cuda, 2 on ilgpu-cpu (every thread is simulated); a
    /// multiple of 32 up to <see cref="MaxThreads"/> (the shared weight rows are sized for it).
    /// Settable so that tests can run the cuda geometry on ilgpu-cpu.</summary>
    internal int Threads { get; init; } = device is IlgpuCpuDevice ? 64 : 128;

    /// <summary>Output columns a lane owns per block (block = 32·Cols columns).</summary>
    private const int Cols = 4;

    private const int Block = 32 * Cols;

    /// <summary>The most threads per group (the per-warp weight rows in shared memory are sized for it).</summary>
    private const int MaxThreads = 256;

    private static readonly IlgpuKernel s_forward = new(ForwardKernel);
    private static readonly IlgpuKernel s_backwardQuery = new(BackwardQueryKernel);
    private static readonly IlgpuKernel s_backwardToken = new(BackwardTokenKernel);

    private Dim3 Groups(long rows)
    {
        long warps = Threads / 32;
        return new((uint)Math.Clamp((rows + warps - 1) / warps, 1, IlgpuLaunch.MaxGroups));
    }

    public void Forward(in AttentionDecodeShape shape, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer o,
        DeviceBuffer? probs)
    {
        IlgpuLaunch.RequireF32("AttentionDecode.Forward", q, k, v, o);
        if (probs is not null) IlgpuLaunch.RequireF32("AttentionDecode.Forward", probs);
        long rows = (long)shape.Batch * shape.Heads * shape.Queries;
        if (rows == 0 || shape.HeadDim == 0) return;
        var (a, b, t, ks) = Mask(shape);
        // Without probs the kernel still needs a float view: o stands in, flagged unused by hasProbs = 0.
        s_forward.Launch(device, Groups(rows), new Dim3((uint)Threads), q, k, v, o, probs ?? o, probs is null ? 0 : 1,
            shape.Batch, shape.Queries, shape.Tokens, shape.Heads, shape.HeadDim, (float)shape.Scale,
            shape.DropoutP > 0 ? 1 : 0, a, b, t, ks);
    }

    public void Backward(in AttentionDecodeShape shape, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer probs,
        DeviceBuffer dO, DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv)
    {
        IlgpuLaunch.RequireF32("AttentionDecode.Backward", q, k, v, probs, dO, dq, dk, dv);
        long qRows = (long)shape.Batch * shape.Heads * shape.Queries;
        long tRows = (long)shape.Batch * shape.Heads * shape.Tokens;
        if (shape.HeadDim == 0 || qRows + tRows == 0) return;
        var (a, b, t, ks) = Mask(shape);
        int drop = shape.DropoutP > 0 ? 1 : 0;
        // Row sums D of (image, head, query), written by the dq kernel, read by the dk/dv kernel
        // (same stream, so the caching allocator may reuse the block after both).
        using var rowDot = device.Allocate(DType.F32, Math.Max(qRows, 1));
        var block = new Dim3((uint)Threads);
        if (qRows > 0)
            s_backwardQuery.Launch(device, Groups(qRows), block, k, v, probs, dO, dq, rowDot,
                shape.Batch, shape.Queries, shape.Tokens, shape.Heads, shape.HeadDim, (float)shape.Scale, drop, a, b, t, ks);
        if (tRows > 0)
            s_backwardToken.Launch(device, Groups(tRows), block, q, v, probs, dO, dk, dv, rowDot,
                shape.Batch, shape.Queries, shape.Tokens, shape.Heads, shape.HeadDim, (float)shape.Scale, drop, a, b, t, ks);
    }

    /// <summary>Dropout keys, threshold (uint bits as int: kernel parameters are int / long / float)
    /// and the keep scale, as <see cref="DropoutMask"/> and the Dropout kernels use them.</summary>
    private static (int A, int B, int Threshold, float KeepScale) Mask(in AttentionDecodeShape s)
    {
        var (a, b) = DropoutMask.Keys(s.Seed);
        return (unchecked((int)a), unchecked((int)b), unchecked((int)DropoutMask.Threshold(s.DropoutP)),
            (float)(1.0 / (1.0 - s.DropoutP)));
    }

    /// <summary>MurmurHash3's 32-bit finaliser, as in <see cref="DropoutMask"/>.</summary>
    private static uint Fmix(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6B;
        h ^= h >> 13;
        h *= 0xC2B2AE35;
        return h ^ (h >> 16);
    }

    /// <summary>The dropout factor of probs element <paramref name="index"/>: 0 or 1/(1 − p).</summary>
    private static float Keep(long index, int keyA, int keyB, int threshold, float keepScale) =>
        Fmix(Fmix((uint)index ^ (uint)keyA) + (uint)keyB) >= (uint)threshold ? keepScale : 0f;

    private static float WarpSum(float v)
    {
        for (int m = 16; m >= 1; m >>= 1) v += Warp.ShuffleXor(v, m);
        return v;
    }

    private static float WarpMax(float v)
    {
        for (int m = 16; m >= 1; m >>= 1) v = MathF.Max(v, Warp.ShuffleXor(v, m));
        return v;
    }

    /// <summary>x[xRow + d]·y[yRow + d] over d &lt; n.</summary>
    private static float Dot(ArrayView<float> x, long xRow, ArrayView<float> y, long yRow, int n)
    {
        float s = 0f;
        for (int d = 0; d < n; d++) s += x[xRow + d] * y[yRow + d];
        return s;
    }

    /// <summary>Adds Σₜ w[t]·src[row(t) + c] to the four accumulators of this lane's columns
    /// c = c0 + lane + 32·r (c &lt; cEnd), for the <paramref name="count"/> rows of the chunk, the
    /// weights w[t] = sh[wBase + t] published by the warp's lanes; row(t) = rowBase + t·rowStride.</summary>
    private static void Accumulate(ArrayView<float> sh, int wBase, int count, ArrayView<float> src, long rowBase,
        long rowStride, int c0, int cEnd, ref float a0, ref float a1, ref float a2, ref float a3)
    {
        int c = c0 + Warp.LaneIdx;
        for (int t = 0; t < count; t++)
        {
            float wt = sh[wBase + t];
            if (wt == 0f) continue; // warp-uniform: every lane reads the same weight
            long r = rowBase + t * rowStride;
            if (c < cEnd) a0 += wt * src[r + c];
            if (c + 32 < cEnd) a1 += wt * src[r + c + 32];
            if (c + 64 < cEnd) a2 += wt * src[r + c + 64];
            if (c + 96 < cEnd) a3 += wt * src[r + c + 96];
        }
    }

    private static void Store(ArrayView<float> dst, long row, int c0, int cEnd, float a0, float a1, float a2, float a3)
    {
        int c = c0 + Warp.LaneIdx;
        if (c < cEnd) dst[row + c] = a0;
        if (c + 32 < cEnd) dst[row + c + 32] = a1;
        if (c + 64 < cEnd) dst[row + c + 64] = a2;
        if (c + 96 < cEnd) dst[row + c + 96] = a3;
    }

    /// <summary>A warp per (image, head, query): o = dropout(softmax(q·kᵀ·scale))·v, probs written
    /// before dropout when hasProbs ≠ 0.</summary>
    private static void ForwardKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> probs, int hasProbs, int batch, int nq, int nt, int heads, int hd, float scale, int drop,
        int keyA, int keyB, int threshold, float keepScale)
    {
        int warps = Group.DimX / Warp.WarpSize, lane = Warp.LaneIdx;
        var sh = SharedMemory.Allocate<float>(MaxThreads);
        int wBase = Warp.WarpIdx * 32;
        long rows = (long)batch * heads * nq;
        long dim = (long)heads * hd;
        for (long row = (long)Grid.IdxX * warps + Warp.WarpIdx; row < rows; row += (long)Grid.DimX * warps)
        {
            long bh = row / nq;
            int i = (int)(row - bh * nq);
            long b = bh / heads;
            int h = (int)(bh - b * heads);
            long qRow = (b * nq + i) * dim + (long)h * hd;
            long kBase = b * nt * dim + (long)h * hd; // token j's head row: kBase + j·dim (k and v alike)
            long pRow = row * nt;
            // Pass 1: online max and sum per lane, then combined over the warp.
            float m = float.NegativeInfinity, z = 0f;
            for (int j = lane; j < nt; j += 32)
            {
                float s = Dot(q, qRow, k, kBase + j * dim, hd) * scale;
                if (s > m)
                {
                    z = z * MathF.Exp(m - s) + 1f;
                    m = s;
                }
                else z += MathF.Exp(s - m);
            }
            float mAll = WarpMax(m);
            float inv = 1f / WarpSum(m == float.NegativeInfinity ? 0f : z * MathF.Exp(m - mAll));
            // Pass 2, per block of 128 output columns: weights of a 32-token chunk, then their products with v.
            for (int c0 = 0; c0 < hd; c0 += Block)
            {
                float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
                for (int j0 = 0; j0 < nt; j0 += 32)
                {
                    int j = j0 + lane;
                    float w = 0f;
                    if (j < nt)
                    {
                        w = MathF.Exp(Dot(q, qRow, k, kBase + j * dim, hd) * scale - mAll) * inv;
                        if (hasProbs != 0 && c0 == 0) probs[pRow + j] = w;
                        if (drop != 0) w *= Keep(pRow + j, keyA, keyB, threshold, keepScale);
                    }
                    sh[wBase + lane] = w;
                    Warp.Barrier();
                    Accumulate(sh, wBase, nt - j0 < 32 ? nt - j0 : 32, v, kBase + j0 * dim, dim, c0, hd,
                        ref a0, ref a1, ref a2, ref a3);
                    Warp.Barrier(); // all lanes have read the chunk's weights before the next overwrites them
                }
                Store(o, qRow, c0, hd, a0, a1, a2, a3);
            }
        }
    }

    /// <summary>A warp per (image, head, query): dP = mask·(dO·vᵀ), D = Σⱼ dP·P (saved in rowDot),
    /// dS = P·(dP − D), dq = dS·k·scale.</summary>
    private static void BackwardQueryKernel(ArrayView<float> k, ArrayView<float> v, ArrayView<float> probs,
        ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> rowDot, int batch, int nq, int nt, int heads, int hd,
        float scale, int drop, int keyA, int keyB, int threshold, float keepScale)
    {
        int warps = Group.DimX / Warp.WarpSize, lane = Warp.LaneIdx;
        var sh = SharedMemory.Allocate<float>(MaxThreads);
        int wBase = Warp.WarpIdx * 32;
        long rows = (long)batch * heads * nq;
        long dim = (long)heads * hd;
        for (long row = (long)Grid.IdxX * warps + Warp.WarpIdx; row < rows; row += (long)Grid.DimX * warps)
        {
            long bh = row / nq;
            int i = (int)(row - bh * nq);
            long b = bh / heads;
            int h = (int)(bh - b * heads);
            long qRow = (b * nq + i) * dim + (long)h * hd;
            long kBase = b * nt * dim + (long)h * hd;
            long pRow = row * nt;
            float d = 0f;
            for (int j = lane; j < nt; j += 32)
            {
                float g = Dot(dO, qRow, v, kBase + j * dim, hd);
                if (drop != 0) g *= Keep(pRow + j, keyA, keyB, threshold, keepScale);
                d += g * probs[pRow + j];
            }
            d = WarpSum(d);
            if (lane == 0) rowDot[row] = d;
            for (int c0 = 0; c0 < hd; c0 += Block)
            {
                float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
                for (int j0 = 0; j0 < nt; j0 += 32)
                {
                    int j = j0 + lane;
                    float ds = 0f;
                    if (j < nt)
                    {
                        float g = Dot(dO, qRow, v, kBase + j * dim, hd);
                        if (drop != 0) g *= Keep(pRow + j, keyA, keyB, threshold, keepScale);
                        ds = probs[pRow + j] * (g - d) * scale;
                    }
                    sh[wBase + lane] = ds;
                    Warp.Barrier();
                    Accumulate(sh, wBase, nt - j0 < 32 ? nt - j0 : 32, k, kBase + j0 * dim, dim, c0, hd,
                        ref a0, ref a1, ref a2, ref a3);
                    Warp.Barrier();
                }
                Store(dq, qRow, c0, hd, a0, a1, a2, a3);
            }
        }
    }

    /// <summary>A warp per (image, head, token j), gathering over the queries i: dv = Σᵢ P'ᵢⱼ·dOᵢ,
    /// dk = Σᵢ dSᵢⱼ·qᵢ·scale with dSᵢⱼ = Pᵢⱼ·(dPᵢⱼ − Dᵢ).</summary>
    private static void BackwardTokenKernel(ArrayView<float> q, ArrayView<float> v, ArrayView<float> probs,
        ArrayView<float> dO, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> rowDot, int batch, int nq, int nt,
        int heads, int hd, float scale, int drop, int keyA, int keyB, int threshold, float keepScale)
    {
        int warps = Group.DimX / Warp.WarpSize, lane = Warp.LaneIdx;
        var sh = SharedMemory.Allocate<float>(2 * MaxThreads);
        int wBase = Warp.WarpIdx * 64;
        long rows = (long)batch * heads * nt;
        long dim = (long)heads * hd;
        for (long row = (long)Grid.IdxX * warps + Warp.WarpIdx; row < rows; row += (long)Grid.DimX * warps)
        {
            long bh = row / nt;
            int j = (int)(row - bh * nt);
            long b = bh / heads;
            int h = (int)(bh - b * heads);
            long tRow = (b * nt + j) * dim + (long)h * hd;
            long qBase = b * nq * dim + (long)h * hd; // query i's head row: qBase + i·dim (q and dO alike)
            for (int c0 = 0; c0 < hd; c0 += Block)
            {
                float k0 = 0f, k1 = 0f, k2 = 0f, k3 = 0f;
                float v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
                for (int i0 = 0; i0 < nq; i0 += 32)
                {
                    int i = i0 + lane;
                    float w = 0f, ds = 0f;
                    if (i < nq)
                    {
                        long pe = (bh * nq + i) * nt + j;
                        float p = probs[pe];
                        float g = Dot(dO, qBase + i * dim, v, tRow, hd);
                        float f = drop != 0 ? Keep(pe, keyA, keyB, threshold, keepScale) : 1f;
                        w = p * f;
                        ds = p * (g * f - rowDot[bh * nq + i]) * scale;
                    }
                    int count = nq - i0 < 32 ? nq - i0 : 32;
                    sh[wBase + lane] = w;
                    sh[wBase + 32 + lane] = ds;
                    Warp.Barrier();
                    Accumulate(sh, wBase, count, dO, qBase + i0 * dim, dim, c0, hd, ref v0, ref v1, ref v2, ref v3);
                    Accumulate(sh, wBase + 32, count, q, qBase + i0 * dim, dim, c0, hd, ref k0, ref k1, ref k2, ref k3);
                    Warp.Barrier();
                }
                Store(dk, tRow, c0, hd, k0, k1, k2, k3);
                Store(dv, tRow, c0, hd, v0, v1, v2, v3);
            }
        }
    }
}
