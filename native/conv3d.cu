// Convolution over 1 to 3 spatial axes (always run as 3-D: kernels/conv3d.h), float32, as an
// implicit GEMM over channels-last (NDHWC) data with shared-memory tiles.
//
// Why channels-last inside, channels-first outside: the engine's tensors (and the IConv contract)
// are NC[D]HW, but the implicit GEMM's reduction runs over (tap, channel) with the channel
// innermost, so in NDHWC consecutive reduction steps and consecutive output columns are
// consecutive addresses (coalesced loads and stores; 16-byte vectors in the tensor-core kernel).
// The C# side (src/Kernels/Ops/Conv/NativeConv*.cs) therefore transposes NCDHW → NDHWC before
// and back after, with conv3d_transpose_f32 below, and re-lays the weight out the same way:
//   wt[g][tap][ci][co]  (forward B, [K = taps·cg][og])      from w[g·og + co][ci][tap]
//   wd[g][tap][co][ci]  (backward-data B, [taps·og][cg]; also the tensor-core forward's B)
// The epilogue and the tap decoding are in kernels/conv3d.h (shared with conv3d_tc.cu).
// Passes, per group g (blockIdx.z), with taps = kd·kh·kw, cg = cin/groups, og = cout/groups:
//   forward         y[m][g·og + col]  = Σ_k x(m, k) · wt[k][col],    m over N·OD·OH·OW, k = tap·cg + ci
//   backward-data   dx[m][g·cg + col] = Σ_k dy(m, k) · wd[k][col],   m over N·ID·IH·IW, k = tap·og + co
//                   (the transposed forward: tap t reaches output o = (i + p − t·d) / s when exact)
//   backward-weights part[split][g][co][tap·cg + ci] = Σ_k dy[k][g·og + co] · x(k, tap, ci),
//                   k over the split's slice of N·OD·OH·OW; conv3d_weights_reduce_f32 sums the
//                   splits into dw[g·og + co][ci][tap] (deterministic, no atomics).
// The forward's epilogue applies bias, an optional per-channel scale / shift (a following
// normalisation folded in) and ReLU / LeakyReLU: y = act((acc + bias[c]) · scale[c] + shift[c]).
// Geometry (mirrored by the C# cuda path): GEMM kernels grid (⌈rows/64⌉, ⌈cols/64⌉, groups
// [× splits]), 256 threads; transpose (⌈cols/32⌉, ⌈rows/32⌉ capped, batch capped), 32×8;
// narrow transpose and reduce 1-D grid-stride, 256; channel sum one block of 256 per channel.
// The tensor-core forward and data gradient are in native/conv3d_tc.cu (their own module).
#include "kernels/emu.h"
#include "kernels/conv3d.h"
#include "kernels/block_sum.h"

// acc[i][j] += Σ_kk As[kk][tm + 16i] · Bs[kk][tn + 16j]: interleaved rows / columns, so a warp's
// shared-memory reads are broadcasts (As) or consecutive (Bs), and its global stores consecutive.
__device__ __forceinline__ void conv3d_tile_fma(const float (*As)[CONV3D_BM], const float (*Bs)[CONV3D_BN],
                                                float (&acc)[4][4], int tm, int tn)
{
#pragma unroll
    for (int kk = 0; kk < CONV3D_BK; ++kk)
    {
        float a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] = As[kk][tm + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tn + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
}

// y (NDHWC) = act(epilogue(x (NDHWC) ⊛ wt)).
extern "C" __global__ void __launch_bounds__(CONV3D_THREADS, 1)
    conv3d_forward_f32(Conv3dParams p, const float* __restrict__ x, const float* __restrict__ wt,
                       const float* __restrict__ bias, const float* __restrict__ scale,
                       const float* __restrict__ shift, int act, float alpha, float* __restrict__ y)
{
    __shared__ float As[CONV3D_BK][CONV3D_BM];
    __shared__ float Bs[CONV3D_BK][CONV3D_BN];
    const int tid = static_cast<int>(threadIdx.x);
    const int cg = p.cin / p.groups, og = p.cout / p.groups, taps = p.kd * p.kh * p.kw, K = taps * cg;
    const long long M = static_cast<long long>(p.n) * p.od * p.oh * p.ow;
    const int g = static_cast<int>(blockIdx.z);
    const long long m0 = static_cast<long long>(blockIdx.x) * CONV3D_BM;
    const int n0 = static_cast<int>(blockIdx.y) * CONV3D_BN;

    // A: this thread loads reduction step ak of rows ar + j·CONV3D_AROWS at every stage; the
    // rows' output positions are decoded once.
    const int ak = tid % CONV3D_BK, ar = tid / CONV3D_BK;
    long long abase[CONV3D_SLOTS];
    int az[CONV3D_SLOTS], ay[CONV3D_SLOTS], ax[CONV3D_SLOTS];
    bool aok[CONV3D_SLOTS];
#pragma unroll
    for (int s = 0; s < CONV3D_SLOTS; ++s)
    {
        long long m = m0 + ar + CONV3D_AROWS * s;
        aok[s] = m < M;
        long long mm = aok[s] ? m : 0;
        int ow = static_cast<int>(mm % p.ow);
        long long t = mm / p.ow;
        int oh = static_cast<int>(t % p.oh);
        t /= p.oh;
        int od = static_cast<int>(t % p.od);
        long long n = t / p.od;
        abase[s] = n * p.id;
        az[s] = od * p.sd - p.pd;
        ay[s] = oh * p.sh - p.ph;
        ax[s] = ow * p.sw - p.pw;
    }
    const int bn = tid % CONV3D_BN, bk = tid / CONV3D_BN;
    const float* __restrict__ wg = wt + static_cast<long long>(g) * K * og;
    const int tm = tid / 16, tn = tid % 16;
    float acc[4][4] = {};

    for (int k0 = 0; k0 < K; k0 += CONV3D_BK)
    {
        int k = k0 + ak;
        int tap = k / cg, c = k - tap * cg, tz, ty, tx;
        conv3d_tap(p, tap, tz, ty, tx);
#pragma unroll
        for (int s = 0; s < CONV3D_SLOTS; ++s)
        {
            float v = 0.0f;
            int z = az[s] + tz * p.dd, yy = ay[s] + ty * p.dh, xx = ax[s] + tx * p.dw;
            if (aok[s] && k < K && static_cast<unsigned>(z) < static_cast<unsigned>(p.id) &&
                static_cast<unsigned>(yy) < static_cast<unsigned>(p.ih) &&
                static_cast<unsigned>(xx) < static_cast<unsigned>(p.iw))
                v = x[(((abase[s] + z) * p.ih + yy) * p.iw + xx) * p.cin + g * cg + c];
            As[ak][ar + CONV3D_AROWS * s] = v;
        }
#pragma unroll
        for (int s = 0; s < CONV3D_SLOTS; ++s)
        {
            int kb = k0 + bk + CONV3D_BSTEP * s, col = n0 + bn;
            Bs[bk + CONV3D_BSTEP * s][bn] = kb < K && col < og ? wg[static_cast<long long>(kb) * og + col] : 0.0f;
        }
        __syncthreads();
        conv3d_tile_fma(As, Bs, acc, tm, tn);
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 4; ++i)
    {
        long long m = m0 + tm + 16 * i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j)
        {
            int col = n0 + tn + 16 * j;
            if (col >= og) continue;
            int c = g * og + col;
            y[m * p.cout + c] = conv3d_epilogue(acc[i][j], c, bias, scale, shift, act, alpha);
        }
    }
}

// dx (NDHWC) = the transposed forward of dy (NDHWC) with wd, plus bias per input channel.
extern "C" __global__ void __launch_bounds__(CONV3D_THREADS, 1)
    conv3d_backward_data_f32(Conv3dParams p, const float* __restrict__ dy, const float* __restrict__ wd,
                             const float* __restrict__ bias, float* __restrict__ dx)
{
    __shared__ float As[CONV3D_BK][CONV3D_BM];
    __shared__ float Bs[CONV3D_BK][CONV3D_BN];
    const int tid = static_cast<int>(threadIdx.x);
    const int cg = p.cin / p.groups, og = p.cout / p.groups, taps = p.kd * p.kh * p.kw, K = taps * og;
    const long long M = static_cast<long long>(p.n) * p.id * p.ih * p.iw;
    const int g = static_cast<int>(blockIdx.z);
    const long long m0 = static_cast<long long>(blockIdx.x) * CONV3D_BM;
    const int n0 = static_cast<int>(blockIdx.y) * CONV3D_BN;

    // Rows are input positions; (z, y, x) + padding is where each tap's output would start.
    const int ak = tid % CONV3D_BK, ar = tid / CONV3D_BK;
    long long abase[CONV3D_SLOTS];
    int az[CONV3D_SLOTS], ay[CONV3D_SLOTS], ax[CONV3D_SLOTS];
    bool aok[CONV3D_SLOTS];
#pragma unroll
    for (int s = 0; s < CONV3D_SLOTS; ++s)
    {
        long long m = m0 + ar + CONV3D_AROWS * s;
        aok[s] = m < M;
        long long mm = aok[s] ? m : 0;
        int ix = static_cast<int>(mm % p.iw);
        long long t = mm / p.iw;
        int iy = static_cast<int>(t % p.ih);
        t /= p.ih;
        int iz = static_cast<int>(t % p.id);
        long long n = t / p.id;
        abase[s] = n * p.od;
        az[s] = iz + p.pd;
        ay[s] = iy + p.ph;
        ax[s] = ix + p.pw;
    }
    const int bn = tid % CONV3D_BN, bk = tid / CONV3D_BN;
    const float* __restrict__ wg = wd + static_cast<long long>(g) * K * cg;
    const int tm = tid / 16, tn = tid % 16;
    float acc[4][4] = {};

    for (int k0 = 0; k0 < K; k0 += CONV3D_BK)
    {
        int k = k0 + ak;
        int tap = k / og, co = k - tap * og, tz, ty, tx;
        conv3d_tap(p, tap, tz, ty, tx);
#pragma unroll
        for (int s = 0; s < CONV3D_SLOTS; ++s)
        {
            float v = 0.0f;
            // Output o reaches input i through tap t when o·s − p + t·d = i.
            int nz = az[s] - tz * p.dd, ny = ay[s] - ty * p.dh, nx = ax[s] - tx * p.dw;
            if (aok[s] && k < K && nz >= 0 && ny >= 0 && nx >= 0 && nz % p.sd == 0 && ny % p.sh == 0 &&
                nx % p.sw == 0)
            {
                int oz = nz / p.sd, oy = ny / p.sh, ox = nx / p.sw;
                if (oz < p.od && oy < p.oh && ox < p.ow)
                    v = dy[(((abase[s] + oz) * p.oh + oy) * p.ow + ox) * p.cout + g * og + co];
            }
            As[ak][ar + CONV3D_AROWS * s] = v;
        }
#pragma unroll
        for (int s = 0; s < CONV3D_SLOTS; ++s)
        {
            int kb = k0 + bk + CONV3D_BSTEP * s, col = n0 + bn;
            Bs[bk + CONV3D_BSTEP * s][bn] = kb < K && col < cg ? wg[static_cast<long long>(kb) * cg + col] : 0.0f;
        }
        __syncthreads();
        conv3d_tile_fma(As, Bs, acc, tm, tn);
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 4; ++i)
    {
        long long m = m0 + tm + 16 * i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j)
        {
            int col = n0 + tn + 16 * j;
            if (col >= cg) continue;
            int c = g * cg + col;
            dx[m * p.cin + c] = conv3d_epilogue(acc[i][j], c, bias, nullptr, nullptr, CONV3D_ACT_NONE, 0.0f);
        }
    }
}

// part[split][g][co][tap·cg + ci] = Σ over this split's output positions k of
// dy[k][g·og + co] · x(k shifted by tap)[g·cg + ci]; blockIdx.z = split · groups + g.
extern "C" __global__ void __launch_bounds__(CONV3D_THREADS, 1)
    conv3d_backward_weights_f32(Conv3dParams p, int chunk, const float* __restrict__ x,
                                const float* __restrict__ dy, float* __restrict__ part)
{
    __shared__ float As[CONV3D_BK][CONV3D_BM];
    __shared__ float Bs[CONV3D_BK][CONV3D_BN];
    const int tid = static_cast<int>(threadIdx.x);
    const int cg = p.cin / p.groups, og = p.cout / p.groups, taps = p.kd * p.kh * p.kw, cols = taps * cg;
    const long long K = static_cast<long long>(p.n) * p.od * p.oh * p.ow;
    const int g = static_cast<int>(blockIdx.z) % p.groups, split = static_cast<int>(blockIdx.z) / p.groups;
    const long long kBegin = static_cast<long long>(split) * chunk;
    const long long kEnd = kBegin + chunk < K ? kBegin + chunk : K;
    const int m0 = static_cast<int>(blockIdx.x) * CONV3D_BM, n0 = static_cast<int>(blockIdx.y) * CONV3D_BN;

    // A (dy, dense along co): row am at steps ak + j·CONV3D_BSTEP. B (x gathered): column bn's tap and
    // channel are decoded once; each step decodes its output position.
    const int am = tid % CONV3D_BM, ak = tid / CONV3D_BM;
    const int bn = tid % CONV3D_BN, bk = tid / CONV3D_BN;
    const int bcol = n0 + bn;
    const bool bok = bcol < cols;
    int btap = bok ? bcol / cg : 0, bci = bok ? bcol - btap * cg : 0, btz, bty, btx;
    conv3d_tap(p, btap, btz, bty, btx);
    const int tm = tid / 16, tn = tid % 16;
    float acc[4][4] = {};

    for (long long k0 = kBegin; k0 < kEnd; k0 += CONV3D_BK)
    {
#pragma unroll
        for (int s = 0; s < CONV3D_SLOTS; ++s)
        {
            long long k = k0 + ak + CONV3D_BSTEP * s;
            As[ak + CONV3D_BSTEP * s][am] = k < kEnd && m0 + am < og ? dy[k * p.cout + g * og + m0 + am] : 0.0f;
        }
#pragma unroll
        for (int s = 0; s < CONV3D_SLOTS; ++s)
        {
            long long k = k0 + bk + CONV3D_BSTEP * s;
            float v = 0.0f;
            if (bok && k < kEnd)
            {
                int ow = static_cast<int>(k % p.ow);
                long long t = k / p.ow;
                int oh = static_cast<int>(t % p.oh);
                t /= p.oh;
                int od = static_cast<int>(t % p.od);
                long long n = t / p.od;
                int z = od * p.sd - p.pd + btz * p.dd, yy = oh * p.sh - p.ph + bty * p.dh,
                    xx = ow * p.sw - p.pw + btx * p.dw;
                if (static_cast<unsigned>(z) < static_cast<unsigned>(p.id) &&
                    static_cast<unsigned>(yy) < static_cast<unsigned>(p.ih) &&
                    static_cast<unsigned>(xx) < static_cast<unsigned>(p.iw))
                    v = x[(((n * p.id + z) * p.ih + yy) * p.iw + xx) * p.cin + g * cg + bci];
            }
            Bs[bk + CONV3D_BSTEP * s][bn] = v;
        }
        __syncthreads();
        conv3d_tile_fma(As, Bs, acc, tm, tn);
        __syncthreads();
    }

    float* __restrict__ out = part + (static_cast<long long>(split) * p.groups + g) * og * cols;
#pragma unroll
    for (int i = 0; i < 4; ++i)
    {
        int m = m0 + tm + 16 * i;
        if (m >= og) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j)
        {
            int col = n0 + tn + 16 * j;
            if (col < cols) out[static_cast<long long>(m) * cols + col] = acc[i][j];
        }
    }
}

// dw[g·og + co][ci][tap] = Σ_split part[split][g][co][tap·cg + ci] (the IConv weight layout).
extern "C" __global__ void conv3d_weights_reduce_f32(Conv3dParams p, int splits, const float* __restrict__ part,
                                                     float* __restrict__ dw)
{
    const int cg = p.cin / p.groups, og = p.cout / p.groups, taps = p.kd * p.kh * p.kw, cols = taps * cg;
    const long long total = static_cast<long long>(p.cout) * cg * taps;
    const long long perSplit = static_cast<long long>(p.groups) * og * cols;
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride)
    {
        int tap = static_cast<int>(e % taps);
        long long t = e / taps;
        int ci = static_cast<int>(t % cg);
        int cout = static_cast<int>(t / cg); // = g·og + co, and part's [g][co] row is the same index
        long long at = static_cast<long long>(cout) * cols + static_cast<long long>(tap) * cg + ci;
        float sum = 0.0f;
        for (int s = 0; s < splits; ++s) sum += part[s * perSplit + at];
        dw[e] = sum;
    }
}

// dst[b][c][r] = src[b][r][c]: NCDHW ↔ NDHWC (rows = channels or positions) and the weight
// re-layouts. Tiles of 32×32 through shared memory (one padding column: no bank conflicts);
// row tiles and batches beyond the grid's limits are walked in loops.
extern "C" __global__ void conv3d_transpose_f32(const float* __restrict__ src, float* __restrict__ dst, int batch,
                                                long long rows, long long cols)
{
    __shared__ float tile[CONV3D_TILE][CONV3D_TILE + 1];
    const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
    const long long c0 = static_cast<long long>(blockIdx.x) * CONV3D_TILE;
    for (int b = static_cast<int>(blockIdx.z); b < batch; b += static_cast<int>(gridDim.z))
    {
        const long long base = static_cast<long long>(b) * rows * cols;
        for (long long r0 = static_cast<long long>(blockIdx.y) * CONV3D_TILE; r0 < rows;
             r0 += static_cast<long long>(gridDim.y) * CONV3D_TILE)
        {
            for (int i = ty; i < CONV3D_TILE; i += CONV3D_TILE_ROWS)
            {
                long long r = r0 + i, c = c0 + tx;
                if (r < rows && c < cols) tile[i][tx] = src[base + r * cols + c];
            }
            __syncthreads();
            for (int i = ty; i < CONV3D_TILE; i += CONV3D_TILE_ROWS)
            {
                long long c = c0 + i, r = r0 + tx;
                if (r < rows && c < cols) dst[base + c * rows + r] = tile[tx][i];
            }
            __syncthreads();
        }
    }
}

// The same transpose when one side is under a tile (few channels): no shared memory, reads
// consecutive, writes strided by rows.
extern "C" __global__ void conv3d_transpose_narrow_f32(const float* __restrict__ src, float* __restrict__ dst,
                                                       int batch, long long rows, long long cols)
{
    const long long plane = rows * cols, total = plane * batch;
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride)
    {
        long long b = e / plane, rc = e - b * plane, r = rc / cols, c = rc - r * cols;
        dst[b * plane + c * rows + r] = src[e];
    }
}

// sum[c] = Σ_{n, s} t[n][c][s] (channels-first: the bias gradient), in two deterministic passes.
// conv3d_channel_sum_f32: block (x, y) sums chunk x (CONV3D_SUM_CHUNK consecutive elements of the
// channel's flattened batch × spatial range: 16 per thread) of channel y (channels beyond gridDim.y
// by a block-uniform stride) by a fixed-order shared-memory tree into part[c * gridDim.x + x].
// One block per channel left a 3-D U-Net's 8-32 channels on a few SMs with a 64-bit division per
// element; now a [32, 64, 64] × 2 tensor gives 64 blocks per channel. The chunk is walked as its
// (at most a few) contiguous per-image segments, so there is no division in the inner loop.
// conv3d_channel_sum_finish_f32: a warp per channel adds its gridDim.x partial sums lane-strided
// in chunk order, then a shuffle tree (fixed order). More, shorter partial sums than the old
// per-thread serial loop: no less accurate.
#define CONV3D_SUM_CHUNK 4096
extern "C" __global__ void conv3d_channel_sum_f32(int batch, int channels, long long spatial,
                                                  const float* __restrict__ t, float* __restrict__ part)
{
    __shared__ float red[CONV3D_THREADS];
    const int tid = static_cast<int>(threadIdx.x);
    const long long count = static_cast<long long>(batch) * spatial;
    const long long lo = static_cast<long long>(blockIdx.x) * CONV3D_SUM_CHUNK;
    const long long hi = lo + CONV3D_SUM_CHUNK < count ? lo + CONV3D_SUM_CHUNK : count;
    for (int c = static_cast<int>(blockIdx.y); c < channels; c += static_cast<int>(gridDim.y))
    {
        float acc = 0.0f;
        if (lo < hi)
        {
            long long n = lo / spatial;
            for (long long start = lo; start < hi; n++)
            {
                long long end = (n + 1) * spatial < hi ? (n + 1) * spatial : hi;
                // flat i = n * spatial + s lives at (n * channels + c) * spatial + s.
                const long long off = n * (channels - 1) * spatial + static_cast<long long>(c) * spatial;
#pragma unroll 4
                for (long long i = start + tid; i < end; i += CONV3D_THREADS) acc += t[off + i];
                start = end;
            }
        }
        float total = kernels_block_sum<CONV3D_THREADS>(acc, red);
        if (tid == 0) part[static_cast<long long>(c) * gridDim.x + blockIdx.x] = total;
    }
}

extern "C" __global__ void conv3d_channel_sum_finish_f32(int channels, int chunks, const float* __restrict__ part,
                                                         float* __restrict__ sum)
{
    const int lane = static_cast<int>(threadIdx.x) & 31;
    const int warps = static_cast<int>((blockDim.x * gridDim.x) >> 5);
    for (int c = static_cast<int>((blockIdx.x * blockDim.x + threadIdx.x) >> 5); c < channels; c += warps)
    {
        const float* p = part + static_cast<long long>(c) * chunks;
        float acc = 0.0f;
        for (int i = lane; i < chunks; i += 32) acc += p[i];
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) sum[c] = acc;
    }
}

#if !defined(__CUDACC_RTC__)
#include <vector>

// Host launch wrappers (the emu device calls these; the cuda device launches the kernels from C#
// with the same geometry).
static unsigned conv3d_blocks(long long n, int tile)
{
    return static_cast<unsigned>((n + tile - 1) / tile);
}

extern "C" int kernels_conv3d_transpose_f32(const float* src, float* dst, int batch, long long rows, long long cols,
                                            void* stream)
{
    if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
    if (rows < CONV3D_TILE || cols < CONV3D_TILE)
        return KERNELS_LAUNCH(conv3d_transpose_narrow_f32,
                              dim3(kernels_grid_for(rows * cols * batch, CONV3D_THREADS)), dim3(CONV3D_THREADS), 0,
                              stream, src, dst, batch, rows, cols);
    long long rowTiles = (rows + CONV3D_TILE - 1) / CONV3D_TILE;
    dim3 grid(conv3d_blocks(cols, CONV3D_TILE), static_cast<unsigned>(rowTiles < 65535 ? rowTiles : 65535),
              static_cast<unsigned>(batch < 65535 ? batch : 65535));
    return KERNELS_LAUNCH(conv3d_transpose_f32, grid, dim3(CONV3D_TILE, CONV3D_TILE_ROWS), 0, stream, src, dst,
                          batch, rows, cols);
}

extern "C" int kernels_conv3d_forward_f32(const Conv3dParams* p, const float* x, const float* wt, const float* bias,
                                          const float* scale, const float* shift, int act, float alpha, float* y,
                                          void* stream)
{
    long long m = static_cast<long long>(p->n) * p->od * p->oh * p->ow;
    int og = p->cout / p->groups;
    if (m <= 0 || og <= 0) return 0;
    dim3 grid(conv3d_blocks(m, CONV3D_BM), conv3d_blocks(og, CONV3D_BN), static_cast<unsigned>(p->groups));
    return KERNELS_LAUNCH(conv3d_forward_f32, grid, dim3(CONV3D_THREADS), 0, stream, *p, x, wt, bias, scale, shift,
                          act, alpha, y);
}

extern "C" int kernels_conv3d_backward_data_f32(const Conv3dParams* p, const float* dy, const float* wd,
                                                const float* bias, float* dx, void* stream)
{
    long long m = static_cast<long long>(p->n) * p->id * p->ih * p->iw;
    int cg = p->cin / p->groups;
    if (m <= 0 || cg <= 0) return 0;
    dim3 grid(conv3d_blocks(m, CONV3D_BM), conv3d_blocks(cg, CONV3D_BN), static_cast<unsigned>(p->groups));
    return KERNELS_LAUNCH(conv3d_backward_data_f32, grid, dim3(CONV3D_THREADS), 0, stream, *p, dy, wd, bias, dx);
}

// part holds splits × cout × (taps · cin / groups) floats; chunk (a multiple of CONV3D_BK) is the
// output positions per split, splits · chunk ≥ N·OD·OH·OW.
extern "C" int kernels_conv3d_backward_weights_f32(const Conv3dParams* p, int splits, int chunk, const float* x,
                                                   const float* dy, float* part, float* dw, void* stream)
{
    int cg = p->cin / p->groups, og = p->cout / p->groups, taps = p->kd * p->kh * p->kw;
    if (og <= 0 || cg <= 0 || taps <= 0) return 0;
    dim3 grid(conv3d_blocks(og, CONV3D_BM), conv3d_blocks(static_cast<long long>(taps) * cg, CONV3D_BN),
              static_cast<unsigned>(p->groups * splits));
    int rc = KERNELS_LAUNCH(conv3d_backward_weights_f32, grid, dim3(CONV3D_THREADS), 0, stream, *p, chunk, x, dy,
                            part);
    if (rc != 0) return rc;
    long long total = static_cast<long long>(p->cout) * cg * taps;
    return KERNELS_LAUNCH(conv3d_weights_reduce_f32, dim3(kernels_grid_for(total, CONV3D_THREADS)),
                          dim3(CONV3D_THREADS), 0, stream, *p, splits, static_cast<const float*>(part), dw);
}

static long long conv3d_sum_chunks(int batch, long long spatial)
{
    long long count = static_cast<long long>(batch) * spatial;
    return count > 0 ? (count + CONV3D_SUM_CHUNK - 1) / CONV3D_SUM_CHUNK : 1;
}

// The [channels, chunks] partial sums live in a scratch buffer: on the emu device (the only caller
// of these wrappers) device memory is host memory, so the wrapper holds it; the cuda path allocates
// it from C# (ConvNativeBase.ChannelSumKernel).
extern "C" int kernels_conv3d_channel_sum_f32(int batch, int channels, long long spatial, const float* t, float* sum,
                                              void* stream)
{
    if (channels <= 0) return 0;
    long long chunks = conv3d_sum_chunks(batch, spatial);
    std::vector<float> part(static_cast<size_t>(chunks * channels));
    dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(channels < 65535 ? channels : 65535));
    int rc = KERNELS_LAUNCH(conv3d_channel_sum_f32, grid, dim3(CONV3D_THREADS), 0, stream, batch, channels, spatial, t,
                            part.data());
    if (rc != 0) return rc;
    return KERNELS_LAUNCH(conv3d_channel_sum_finish_f32, dim3(kernels_grid_for(32LL * channels, CONV3D_THREADS)),
                          dim3(CONV3D_THREADS), 0, stream, channels, static_cast<int>(chunks),
                          static_cast<const float*>(part.data()), sum);
}
#endif
