using ILGPU;
using ILGPU.Algorithms;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;

namespace Kernels.Ops.Norm;

/// <summary>The chunked group-norm path, for few large rows (3-D U-Net instance norm: 16 rows of
/// 131,072 elements would leave a one-group-per-row launch on 16 of 132 SMs). Each row is cut into
/// contiguous chunks and one group per (row, chunk) reduces its chunk into a scratch buffer; the
/// next kernel's groups combine their row's chunk partials in chunk order (every group the same
/// sequence of float operations, so the result is deterministic and identical across groups) and
/// then write their own chunk. No atomics. Statistics: per-chunk mean and squared deviations about
/// it (two passes over a chunk that stays in cache), combined with Chan's parallel formula, which
/// is at least as accurate as the one-row two-pass sum. With one channel per group (instance norm)
/// the per-element 64-bit division for the affine parameter index is skipped.</summary>
public sealed partial class NormIlgpu
{
    /// <summary>Groups the chunked path aims for: about four per SM of an H100 (132 SMs).</summary>
    internal const int TargetGroups = 4 * 132;

    /// <summary>Smallest chunk: below this the extra launch and the partial round trip cost more
    /// than the parallelism gains.</summary>
    internal const int MinChunk = 256;

    private static readonly IlgpuKernel s_groupStatsPartial = new(GroupStatsPartialKernel);
    private static readonly IlgpuKernel s_groupForwardApply = new(GroupForwardApplyKernel);
    private static readonly IlgpuKernel s_groupBackwardPartial = new(GroupBackwardPartialKernel);
    private static readonly IlgpuKernel s_groupBackwardApply = new(GroupBackwardApplyKernel);
    private static readonly IlgpuKernel s_groupParamsPartial = new(GroupParamsPartialKernel);
    private static readonly IlgpuKernel s_groupParamsCombine = new(GroupParamsCombineKernel);

    /// <summary>Chunks per slice when <paramref name="units"/> slices of <paramref name="length"/>
    /// elements are reduced: 1 when the slices alone fill the GPU or are short, otherwise enough that
    /// units × chunks reaches <see cref="TargetGroups"/>, each chunk (but the last) at least
    /// <see cref="MinChunk"/> elements and a multiple of 32 (aligned, coalesced starts). The last chunk may be shorter.</summary>
    internal static int Chunks(long units, long length, out long chunkLength)
    {
        chunkLength = length;
        if (units >= TargetGroups || length < 2 * MinChunk) return 1;
        long chunks = Math.Min((TargetGroups + units - 1) / units, length / MinChunk);
        chunkLength = ((length + chunks - 1) / chunks + 31) / 32 * 32;
        return (int)((length + chunkLength - 1) / chunkLength);
    }

    private void GroupForwardChunked(in GroupNormShape s, int chunks, long chunkLen, float eps, DeviceBuffer x,
        DeviceBuffer? weight, DeviceBuffer? bias, DeviceBuffer y, DeviceBuffer mean, DeviceBuffer rstd)
    {
        int units = s.Rows * chunks;
        using var part = device.Allocate(DType.F32, 2L * units);
        s_groupStatsPartial.Launch(device, Groups(units), Block(chunkLen), x, part, units, chunks, chunkLen, s.RowLength);
        s_groupForwardApply.Launch(device, Groups(units), Block(chunkLen), x, weight ?? x, bias ?? x, y, mean, rstd, part,
            units, chunks, chunkLen, s.GroupsPerSample, s.ChannelsPerGroup, s.Spatial, eps, weight is null ? 0 : 1,
            bias is null ? 0 : 1);
    }

    private void GroupBackwardDataChunked(in GroupNormShape s, int chunks, long chunkLen, DeviceBuffer x,
        DeviceBuffer? weight, DeviceBuffer mean, DeviceBuffer rstd, DeviceBuffer dy, DeviceBuffer dx)
    {
        int units = s.Rows * chunks;
        using var part = device.Allocate(DType.F32, 2L * units);
        s_groupBackwardPartial.Launch(device, Groups(units), Block(chunkLen), x, weight ?? x, mean, dy, part, units,
            chunks, chunkLen, s.GroupsPerSample, s.ChannelsPerGroup, s.Spatial, weight is null ? 0 : 1);
        s_groupBackwardApply.Launch(device, Groups(units), Block(chunkLen), x, weight ?? x, mean, rstd, dy, dx, part,
            units, chunks, chunkLen, s.GroupsPerSample, s.ChannelsPerGroup, s.Spatial, weight is null ? 0 : 1);
    }

    private void GroupBackwardParamsChunked(in GroupNormShape s, DeviceBuffer x, DeviceBuffer mean, DeviceBuffer rstd,
        DeviceBuffer dy, DeviceBuffer? dweight, DeviceBuffer? dbias)
    {
        int chunks = Chunks((long)s.Params * s.Samples, s.Spatial, out long chunkLen);
        int perParam = s.Samples * chunks;
        int units = s.Params * perParam;
        using var part = device.Allocate(DType.F32, 2L * units);
        s_groupParamsPartial.Launch(device, Groups(units), Block(chunkLen), x, mean, rstd, dy, part, units, s.Samples,
            s.GroupsPerSample, s.ChannelsPerGroup, s.Spatial, chunks, chunkLen);
        s_groupParamsCombine.Launch(device, IlgpuLaunch.Grid1D(s.Params), IlgpuLaunch.Block1D, part, dweight ?? dy,
            dbias ?? dy, s.Params, perParam, dweight is null ? 0 : 1, dbias is null ? 0 : 1);
    }

    /// <summary>Unit u = row·chunks + chunk: part[2u] = the chunk's mean, part[2u + 1] = Σ (x − mean)²
    /// over the chunk.</summary>
    private static void GroupStatsPartialKernel(ArrayView<float> x, ArrayView<float> part, int units, int chunks,
        long chunkLen, long len)
    {
        var scratch = SharedMemory.Allocate<float>(32);
        int tid = Group.IdxX, threads = Group.DimX;
        for (int u = Grid.IdxX; u < units; u += Grid.DimX)
        {
            int r = u / chunks, c = u - r * chunks;
            long start = c * chunkLen;
            long o = r * len + start;
            int n = (int)XMath.Min(chunkLen, len - start);
            float s = 0f;
            for (int i = tid; i < n; i += threads) s += x[o + i];
            float m = GroupSum(s, scratch) / n;
            float q = 0f;
            for (int i = tid; i < n; i += threads)
            {
                float d = x[o + i] - m;
                q += d * d;
            }
            q = GroupSum(q, scratch);
            if (tid == 0)
            {
                part[2 * u] = m;
                part[2 * u + 1] = q;
            }
        }
    }

    /// <summary>Combines row r's chunk statistics in chunk order (Chan et al.: merging (nA, mA, qA)
    /// with (nB, mB, qB) gives mean mA + d·nB/n and squared deviations qA + qB + d²·nA·nB/n,
    /// d = mB − mA), then normalises chunk c. Chunk 0's group stores the row's mean and rstd.</summary>
    private static void GroupForwardApplyKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> part, int units, int chunks,
        long chunkLen, int groupsPerSample, int channelsPerGroup, int spatial, float eps, int hasWeight, int hasBias)
    {
        int tid = Group.IdxX, threads = Group.DimX;
        long len = (long)channelsPerGroup * spatial;
        for (int u = Grid.IdxX; u < units; u += Grid.DimX)
        {
            int r = u / chunks, c = u - r * chunks;
            float na = 0f, ma = 0f, qa = 0f;
            for (int k = 0; k < chunks; k++)
            {
                int pk = 2 * (r * chunks + k);
                float nb = XMath.Min(chunkLen, len - k * chunkLen);
                float n = na + nb;
                float d = part[pk] - ma;
                float f = nb / n;
                ma += d * f;
                qa += part[pk + 1] + d * d * na * f;
                na = n;
            }
            float rs = XMath.Rsqrt(qa / len + eps);
            if (c == 0 && tid == 0)
            {
                mean[r] = ma;
                rstd[r] = rs;
            }
            long start = c * chunkLen;
            long o = r * len + start;
            int cnt = (int)XMath.Min(chunkLen, len - start);
            int p0 = r % groupsPerSample * channelsPerGroup;
            for (int i = tid; i < cnt; i += threads)
            {
                int p = channelsPerGroup == 1 ? p0 : p0 + (int)((start + i) / spatial);
                float scale = hasWeight != 0 ? rs * w[p] : rs;
                float shift = hasBias != 0 ? b[p] : 0f;
                y[o + i] = (x[o + i] - ma) * scale + shift;
            }
        }
    }

    /// <summary>Unit u = row·chunks + chunk: part[2u] = Σ ĝ, part[2u + 1] = Σ ĝ·(x − mean) over the
    /// chunk, ĝ = dy·w.</summary>
    private static void GroupBackwardPartialKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean,
        ArrayView<float> dy, ArrayView<float> part, int units, int chunks, long chunkLen, int groupsPerSample,
        int channelsPerGroup, int spatial, int hasWeight)
    {
        var scratch = SharedMemory.Allocate<float>(32);
        int tid = Group.IdxX, threads = Group.DimX;
        long len = (long)channelsPerGroup * spatial;
        for (int u = Grid.IdxX; u < units; u += Grid.DimX)
        {
            int r = u / chunks, c = u - r * chunks;
            long start = c * chunkLen;
            long o = r * len + start;
            int cnt = (int)XMath.Min(chunkLen, len - start);
            int p0 = r % groupsPerSample * channelsPerGroup;
            float m = mean[r];
            float sg = 0f, sgx = 0f;
            for (int i = tid; i < cnt; i += threads)
            {
                float g = dy[o + i] * (hasWeight != 0 ? w[channelsPerGroup == 1 ? p0 : p0 + (int)((start + i) / spatial)] : 1f);
                sg += g;
                sgx += g * (x[o + i] - m);
            }
            sg = GroupSum(sg, scratch);
            sgx = GroupSum(sgx, scratch);
            if (tid == 0)
            {
                part[2 * u] = sg;
                part[2 * u + 1] = sgx;
            }
        }
    }

    /// <summary>Sums row r's chunk partials in chunk order (Kahan-compensated), then
    /// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) over chunk c.</summary>
    private static void GroupBackwardApplyKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> dy, ArrayView<float> dx, ArrayView<float> part, int units, int chunks,
        long chunkLen, int groupsPerSample, int channelsPerGroup, int spatial, int hasWeight)
    {
        int tid = Group.IdxX, threads = Group.DimX;
        long len = (long)channelsPerGroup * spatial;
        for (int u = Grid.IdxX; u < units; u += Grid.DimX)
        {
            int r = u / chunks, c = u - r * chunks;
            float sg = 0f, cg = 0f, sgx = 0f, cgx = 0f;
            for (int k = 0; k < chunks; k++)
            {
                int pk = 2 * (r * chunks + k);
                float v = part[pk] - cg;
                float t = sg + v;
                cg = (t - sg) - v;
                sg = t;
                v = part[pk + 1] - cgx;
                t = sgx + v;
                cgx = (t - sgx) - v;
                sgx = t;
            }
            float m = mean[r], rs = rstd[r];
            float mg = sg / len, mgx = sgx * rs / len;
            long start = c * chunkLen;
            long o = r * len + start;
            int cnt = (int)XMath.Min(chunkLen, len - start);
            int p0 = r % groupsPerSample * channelsPerGroup;
            for (int i = tid; i < cnt; i += threads)
            {
                float g = dy[o + i] * (hasWeight != 0 ? w[channelsPerGroup == 1 ? p0 : p0 + (int)((start + i) / spatial)] : 1f);
                float xh = (x[o + i] - m) * rs;
                dx[o + i] = rs * (g - mg - xh * mgx);
            }
        }
    }

    /// <summary>Unit u = (parameter p·samples + sample n)·chunks + chunk of the spatial positions:
    /// part[2u] = Σ dy, part[2u + 1] = Σ dy·x̂ over that contiguous run of channel p of sample n.</summary>
    private static void GroupParamsPartialKernel(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> part, int units, int samples, int groupsPerSample, int channelsPerGroup,
        int spatial, int chunks, long chunkLen)
    {
        var scratch = SharedMemory.Allocate<float>(32);
        int tid = Group.IdxX, threads = Group.DimX;
        long len = (long)channelsPerGroup * spatial;
        int perParam = samples * chunks;
        for (int u = Grid.IdxX; u < units; u += Grid.DimX)
        {
            int p = u / perParam, rem = u - p * perParam;
            int n = rem / chunks, c = rem - n * chunks;
            int g = p / channelsPerGroup, ch = p - g * channelsPerGroup;
            long r = (long)n * groupsPerSample + g;
            long start = c * chunkLen;
            long o = r * len + (long)ch * spatial + start;
            int cnt = (int)XMath.Min(chunkLen, spatial - start);
            float m = mean[r];
            float a = 0f, ax = 0f;
            for (int i = tid; i < cnt; i += threads)
            {
                float gv = dy[o + i];
                a += gv;
                ax += gv * (x[o + i] - m);
            }
            a = GroupSum(a, scratch);
            ax = GroupSum(ax, scratch);
            if (tid == 0)
            {
                part[2 * u] = a;
                part[2 * u + 1] = ax * rstd[r];
            }
        }
    }

    /// <summary>One thread per parameter: Kahan sum of its perParam partials in order.</summary>
    private static void GroupParamsCombineKernel(ArrayView<float> part, ArrayView<float> dw, ArrayView<float> db,
        int parameters, int perParam, int writeWeight, int writeBias)
    {
        for (int p = Grid.GlobalIndex.X; p < parameters; p += Grid.DimX * Group.DimX)
        {
            float a = 0f, ca = 0f, ax = 0f, cax = 0f;
            for (int k = 0; k < perParam; k++)
            {
                int pk = 2 * (p * perParam + k);
                float v = part[pk] - ca;
                float t = a + v;
                ca = (t - a) - v;
                a = t;
                v = part[pk + 1] - cax;
                t = ax + v;
                cax = (t - ax) - v;
                ax = t;
            }
            if (writeWeight != 0) dw[p] = ax;
            if (writeBias != 0) db[p] = a;
        }
    }
}
