using ILGPU;
using ILGPU.Algorithms;

namespace Kernels.Ops.Norm;

/// <summary>The kernels of <see cref="NormIlgpu"/>.</summary>
public sealed partial class NormIlgpu
{
    /// <summary>One group per row: mean, then rstd from the squared deviations, then y.</summary>
    private static void GroupForwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, int rows, int groupsPerSample, int channelsPerGroup, int spatial,
        float eps, int hasWeight, int hasBias)
    {
        var scratch = SharedMemory.Allocate<float>(32);
        int tid = Group.IdxX, threads = Group.DimX;
        long len = (long)channelsPerGroup * spatial;
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            long o = r * len;
            float s = 0f;
            for (long i = tid; i < len; i += threads) s += x[o + i];
            float m = GroupSum(s, scratch) / len;
            float q = 0f;
            for (long i = tid; i < len; i += threads)
            {
                float d = x[o + i] - m;
                q += d * d;
            }
            float rs = XMath.Rsqrt(GroupSum(q, scratch) / len + eps);
            if (tid == 0)
            {
                mean[r] = m;
                rstd[r] = rs;
            }
            int p0 = r % groupsPerSample * channelsPerGroup;
            for (long i = tid; i < len; i += threads)
            {
                int p = p0 + (int)(i / spatial);
                float scale = hasWeight != 0 ? rs * w[p] : rs;
                float shift = hasBias != 0 ? b[p] : 0f;
                y[o + i] = (x[o + i] - m) * scale + shift;
            }
        }
    }

    /// <summary>One group per row: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = dy·w.</summary>
    private static void GroupBackwardDataKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> dy, ArrayView<float> dx, int rows, int groupsPerSample,
        int channelsPerGroup, int spatial, int hasWeight)
    {
        var scratch = SharedMemory.Allocate<float>(32);
        int tid = Group.IdxX, threads = Group.DimX;
        long len = (long)channelsPerGroup * spatial;
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            long o = r * len;
            float m = mean[r], rs = rstd[r];
            int p0 = r % groupsPerSample * channelsPerGroup;
            float sg = 0f, sgx = 0f;
            for (long i = tid; i < len; i += threads)
            {
                float g = dy[o + i] * (hasWeight != 0 ? w[p0 + (int)(i / spatial)] : 1f);
                sg += g;
                sgx += g * (x[o + i] - m);
            }
            float mg = GroupSum(sg, scratch) / len;
            float mgx = GroupSum(sgx, scratch) * rs / len;
            for (long i = tid; i < len; i += threads)
            {
                float g = dy[o + i] * (hasWeight != 0 ? w[p0 + (int)(i / spatial)] : 1f);
                float xh = (x[o + i] - m) * rs;
                dx[o + i] = rs * (g - mg - xh * mgx);
            }
        }
    }

    /// <summary>One group per parameter p = (group g, channel c): dw[p] = Σ dy·x̂ and db[p] = Σ dy
    /// over the samples and spatial positions that use p.</summary>
    private static void GroupBackwardParamsKernel(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> dw, ArrayView<float> db, int samples, int groupsPerSample,
        int channelsPerGroup, int spatial, int writeWeight, int writeBias)
    {
        var scratch = SharedMemory.Allocate<float>(32);
        int tid = Group.IdxX, threads = Group.DimX;
        long len = (long)channelsPerGroup * spatial;
        long count = (long)samples * spatial;
        int parameters = groupsPerSample * channelsPerGroup;
        for (int p = Grid.IdxX; p < parameters; p += Grid.DimX)
        {
            int g = p / channelsPerGroup, c = p - g * channelsPerGroup;
            float a = 0f, ax = 0f;
            for (long k = tid; k < count; k += threads)
            {
                long n = k / spatial;
                long r = n * groupsPerSample + g;
                long at = r * len + (long)c * spatial + (k - n * spatial);
                float gv = dy[at];
                a += gv;
                ax += gv * (x[at] - mean[r]) * rstd[r];
            }
            float sumB = GroupSum(a, scratch);
            float sumW = GroupSum(ax, scratch);
            if (tid == 0)
            {
                if (writeWeight != 0) dw[p] = sumW;
                if (writeBias != 0) db[p] = sumB;
            }
        }
    }

    /// <summary>Warps per group of <see cref="GroupBackwardParamColumnsKernel"/> at most (its shared arrays hold 32 × this).</summary>
    private const int ColumnWarps = 16;

    /// <summary>Spatial 1 (layer norm, group norm on [N, C]): dw[p] = Σ_n dy·x̂ and db[p] = Σ_n dy down
    /// column p of the [samples, params] rows. One group per tile of 32 columns: lane l takes column
    /// tile·32 + l (a warp reads 32 consecutive floats of a row), warp w the rows w, w + W, … with a
    /// Kahan-compensated sum, then warp 0 adds the W partials of its column in warp order (fixed
    /// order: deterministic). W warps share the column's rows, so a thread walks samples / W rows,
    /// not all of them.</summary>
    private static void GroupBackwardParamColumnsKernel(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> dw, ArrayView<float> db, int samples, int groupsPerSample,
        int channelsPerGroup, int writeWeight, int writeBias)
    {
        var partA = SharedMemory.Allocate<float>(32 * ColumnWarps);
        var partAx = SharedMemory.Allocate<float>(32 * ColumnWarps);
        int parameters = groupsPerSample * channelsPerGroup;
        int lane = Group.IdxX % 32, warp = Group.IdxX / 32, warps = Group.DimX / 32;
        int tiles = (parameters + 31) / 32;
        for (int tile = Grid.IdxX; tile < tiles; tile += Grid.DimX)
        {
            int p = tile * 32 + lane;
            float a = 0f, ca = 0f, ax = 0f, cax = 0f;
            if (p < parameters)
            {
                int g = p / channelsPerGroup;
                for (int n = warp; n < samples; n += warps)
                {
                    // Row n·G + g holds parameters g·cpg … (g+1)·cpg − 1 of sample n, so element p of
                    // the sample's [params] slice belongs to that row's statistics.
                    long r = (long)n * groupsPerSample + g;
                    long at = (long)n * parameters + p;
                    float gv = dy[at];
                    float v = gv - ca;
                    float t = a + v;
                    ca = (t - a) - v;
                    a = t;
                    v = gv * (x[at] - mean[r]) * rstd[r] - cax;
                    t = ax + v;
                    cax = (t - ax) - v;
                    ax = t;
                }
            }
            // The previous tile's readers are done before this tile's partials overwrite them.
            Group.Barrier();
            partA[warp * 32 + lane] = a;
            partAx[warp * 32 + lane] = ax;
            Group.Barrier();
            if (warp == 0 && p < parameters)
            {
                float sa = 0f, sax = 0f;
                for (int w = 0; w < warps; w++)
                {
                    sa += partA[w * 32 + lane];
                    sax += partAx[w * 32 + lane];
                }
                if (writeWeight != 0) dw[p] = sax;
                if (writeBias != 0) db[p] = sa;
            }
        }
    }

    /// <summary>One group per channel. Training: batch statistics (biased variance for the
    /// normalisation, unbiased for the running variance), running buffers updated by thread 0.
    /// Inference: the running statistics.</summary>
    private static void BatchForwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> runningMean, ArrayView<float> runningVar, ArrayView<float> y, ArrayView<float> saveMean,
        ArrayView<float> saveInvStd, int n, int channels, int spatial, int training, float momentum, float eps,
        int hasWeight, int hasBias, int hasRunningMean, int hasRunningVar)
    {
        var scratch = SharedMemory.Allocate<float>(32);
        int tid = Group.IdxX, threads = Group.DimX;
        long cs = (long)channels * spatial, count = (long)n * spatial;
        for (int c = Grid.IdxX; c < channels; c += Grid.DimX)
        {
            long c0 = (long)c * spatial;
            float m, inv;
            if (training != 0)
            {
                float s = 0f;
                for (long k = tid; k < count; k += threads)
                {
                    long i = k / spatial;
                    s += x[i * cs + c0 + (k - i * spatial)];
                }
                m = GroupSum(s, scratch) / count;
                float q = 0f;
                for (long k = tid; k < count; k += threads)
                {
                    long i = k / spatial;
                    float d = x[i * cs + c0 + (k - i * spatial)] - m;
                    q += d * d;
                }
                float sq = GroupSum(q, scratch);
                inv = XMath.Rsqrt(sq / count + eps);
                if (tid == 0)
                {
                    if (hasRunningMean != 0) runningMean[c] = (1f - momentum) * runningMean[c] + momentum * m;
                    if (hasRunningVar != 0) runningVar[c] = (1f - momentum) * runningVar[c] + momentum * (sq / (count - 1));
                }
            }
            else
            {
                m = runningMean[c];
                inv = XMath.Rsqrt(runningVar[c] + eps);
            }
            if (tid == 0)
            {
                saveMean[c] = m;
                saveInvStd[c] = inv;
            }
            float scale = hasWeight != 0 ? inv * w[c] : inv;
            float shift = hasBias != 0 ? b[c] : 0f;
            for (long k = tid; k < count; k += threads)
            {
                long i = k / spatial;
                long at = i * cs + c0 + (k - i * spatial);
                y[at] = (x[at] - m) * scale + shift;
            }
        }
    }

    /// <summary>One group per channel: Σ dy and Σ dy·x̂ give dbias and dweight; training
    /// dx = w·inv·(dy − mean(dy) − x̂·mean(dy·x̂)), inference dx = w·inv·dy.</summary>
    private static void BatchBackwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> saveMean,
        ArrayView<float> saveInvStd, ArrayView<float> dy, ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> db,
        int n, int channels, int spatial, int training, int hasWeight, int writeDx, int writeWeight, int writeBias)
    {
        var scratch = SharedMemory.Allocate<float>(32);
        int tid = Group.IdxX, threads = Group.DimX;
        long cs = (long)channels * spatial, count = (long)n * spatial;
        for (int c = Grid.IdxX; c < channels; c += Grid.DimX)
        {
            long c0 = (long)c * spatial;
            float m = saveMean[c], inv = saveInvStd[c];
            float sg = 0f, sgx = 0f;
            for (long k = tid; k < count; k += threads)
            {
                long i = k / spatial;
                long at = i * cs + c0 + (k - i * spatial);
                float g = dy[at];
                sg += g;
                sgx += g * (x[at] - m);
            }
            sg = GroupSum(sg, scratch);
            sgx = GroupSum(sgx, scratch) * inv; // Σ dy·x̂
            if (tid == 0)
            {
                if (writeWeight != 0) dw[c] = sgx;
                if (writeBias != 0) db[c] = sg;
            }
            if (writeDx == 0) continue;
            float k0 = hasWeight != 0 ? w[c] * inv : inv;
            float mg = training != 0 ? sg / count : 0f, mgx = training != 0 ? sgx / count : 0f;
            for (long k = tid; k < count; k += threads)
            {
                long i = k / spatial;
                long at = i * cs + c0 + (k - i * spatial);
                float xh = (x[at] - m) * inv;
                dx[at] = k0 * (dy[at] - mg - xh * mgx);
            }
        }
    }
}
