// GroupDecode family, float32: the ML-Decoder's group fully connected layer
// (src/Kernels/Ops/GroupDecode/IGroupDecode.cs), forward, backward, and the fused
// decode + asymmetric loss. x [B, K, D], w [K, D, g], bias [N], logits [B, N], N <= K*g.
// Every output element is one ordered sum (deterministic, no atomics). Geometry: 256 threads per
// block; forward (a warp per logit) and backward are grid-stride loops (KERNELS_MAX_BLOCKS blocks at
// most), the backward over the concatenated index spaces of dx, dw and dbias. From g = 8 on, the
// forward, dx and dw are per-group register-tiled GEMMs instead (group_decode_gemm_f32; dbias stays
// on the backward kernel). The fused loss: one block per
// tile of 256 logits of one image (T = B * ceil(N / 256) tiles, grid-stride) computes each logit in
// a register, the ASL entry loss and gradient (kernels/asl.h), writes the weighted logit gradient
// to a [B, N] scratch and the tile's loss and non-zero-weight count to part[tile], part[T + tile];
// one thread then sums those in tile order (loss, and the mean's scale into part[2T]); the
// backward kernel runs on the scratch, scaled. The logits never reach memory; their gradients do (see Ilgpu.cs for the trade-off).
#include "kernels/emu.h"
#include "kernels/asl.h"

#define GROUP_DECODE_ROW_THREADS 256

// One warp per logit (grid-stride over warps; the block size must be a multiple of 32): the lanes
// stride the dim-long dot product, so a warp reads its x row (and, for g = 1, its w row) in
// coalesced 128-byte lines, then adds the 32 partial sums by a shuffle tree (fixed order:
// deterministic). A thread per logit walking all of dim read scattered rows from a handful of
// blocks: latency-bound on a GPU.
extern "C" __global__ void group_decode_forward_f32(const float* __restrict__ x, const float* __restrict__ w,
                                                    const float* __restrict__ bias, float* __restrict__ y, int batch,
                                                    int groups, int dim, int g, int n)
{
    long long total = static_cast<long long>(batch) * n;
    int lane = threadIdx.x & 31;
    long long warps = (static_cast<long long>(blockDim.x) * gridDim.x) >> 5;
    for (long long i = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; i < total; i += warps)
    {
        long long b = i / n;
        int j = static_cast<int>(i - b * n);
        int grp = j / g, c = j - grp * g;
        const float* xr = x + (b * groups + grp) * dim;
        const float* wc = w + static_cast<long long>(grp) * dim * g + c;
        float acc = 0.0f;
        for (int t = lane; t < dim; t += 32) acc += xr[t] * wc[static_cast<long long>(t) * g];
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) y[i] = bias ? acc + bias[j] : acc;
    }
}

// dx, dw, dbias may be null (their index range is then empty: nx, nw, nb = 0); scale null means 1.
extern "C" __global__ void group_decode_backward_f32(const float* __restrict__ x, const float* __restrict__ w,
                                                     const float* __restrict__ dy, float* __restrict__ dx,
                                                     float* __restrict__ dw, float* __restrict__ dbias,
                                                     const float* __restrict__ scale, int batch, int groups, int dim,
                                                     int g, int n, long long nx, long long nw, long long nb)
{
    float sc = scale ? *scale : 1.0f;
    long long total = nx + nw + nb;
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    {
        if (i < nx)
        {
            // dx[b, k, d] = sum_c dy[b, k*g + c] * w[k, d, c]
            long long kd = static_cast<long long>(groups) * dim;
            long long b = i / kd, r = i - b * kd;
            int grp = static_cast<int>(r / dim);
            int cols = n - grp * g < g ? n - grp * g : g;
            const float* dyr = dy + b * n + static_cast<long long>(grp) * g;
            const float* wr = w + r * g;
            float acc = 0.0f;
            for (int c = 0; c < cols; c++) acc += dyr[c] * wr[c];
            dx[i] = sc * acc;
        }
        else if (i < nx + nw)
        {
            // dw[k, d, c] = sum_b x[b, k, d] * dy[b, k*g + c]; 0 for the padding columns j >= N.
            long long e = i - nx;
            long long grp = e / (static_cast<long long>(dim) * g);
            long long r = e - grp * dim * g;
            long long t = r / g;
            long long j = grp * g + (r - t * g);
            float acc = 0.0f;
            if (j < n)
                for (int b = 0; b < batch; b++)
                    acc += x[(static_cast<long long>(b) * groups + grp) * dim + t] * dy[static_cast<long long>(b) * n + j];
            dw[e] = sc * acc;
        }
        else
        {
            long long j = i - nx - nw;
            float acc = 0.0f;
            for (int b = 0; b < batch; b++) acc += dy[static_cast<long long>(b) * n + j];
            dbias[j] = sc * acc;
        }
    }
}

// Per-group GEMMs for g >= GROUP_DECODE_GEMM_MIN_G (the paper's g 97: the thread- and
// warp-per-output kernels above read w with a stride of g floats and re-read every x row g times).
// mode 0, forward:  y[:, k*g + c]  = x_k [B, D] · w_k [D, g]            (+ bias), c < cols_k
// mode 1, dx:       dx[:, k, :]    = dy_k [B, cols_k] · w_kᵀ [cols_k, D]   (· scale)
// mode 2, dw:       dw[k]          = x_kᵀ [D, B] · dy_k [B, g]             (· scale; 0 for c >= cols_k)
// with cols_k = min(g, N - k*g) (the last group may miss columns: zero gradient, no logit).
// Classic register tiling: a block computes a 64×64 tile of C = A·B of one group (grid x: column
// tiles, y: row tiles, z: groups with a block-uniform stride), stepping the reduction 16 at a time
// through shared memory; each of the 256 threads keeps 4×4 outputs at rows ty + 16i, columns
// tx + 16j (consecutive threads write consecutive columns: coalesced). Every output is one sum in
// reduction order (deterministic, the reference's order). Operand tiles are loaded with the thread
// mapping that follows the operand's contiguous axis; the 65-float rows keep the transposing
// shared-memory stores at most 2-way bank-conflicted.
#define GROUP_DECODE_GEMM_MIN_G 8
#define GD_TILE 64
#define GD_STEP 16
#define GD_THREADS 256

extern "C" __global__ void __launch_bounds__(GD_THREADS)
    group_decode_gemm_f32(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ dy,
                          const float* __restrict__ bias, const float* __restrict__ scale, float* __restrict__ out,
                          int mode, int batch, int groups, int dim, int g, int n)
{
    __shared__ float as[GD_STEP][GD_TILE + 1];
    __shared__ float bs[GD_STEP][GD_TILE + 1];
    const int tid = static_cast<int>(threadIdx.x), tx = tid & 15, ty = tid >> 4;
    const long long kd = static_cast<long long>(groups) * dim, dg = static_cast<long long>(dim) * g;
    const float sc = mode != 0 && scale ? *scale : 1.0f;
    const int m0 = static_cast<int>(blockIdx.y) * GD_TILE, n0 = static_cast<int>(blockIdx.x) * GD_TILE;
    for (int grp = static_cast<int>(blockIdx.z); grp < groups; grp += static_cast<int>(gridDim.z))
    {
        const int cols = n - grp * g < g ? n - grp * g : g;
        // A(m, r) = a[m * sam + r * sar], B(r, c) = b[r * sbr + c * sbn] (0 for c >= bcols),
        // C(m, c) = o[m * scm + c] for m < rows, c < ncols; the reduction runs over r < red.
        const float* a;
        const float* b;
        float* o;
        long long sam, sar, sbr, sbn, scm;
        int rows, red, ncols, bcols;
        if (mode == 0)
        {
            a = x + static_cast<long long>(grp) * dim; sam = kd; sar = 1;
            b = w + grp * dg; sbr = g; sbn = 1;
            o = out + static_cast<long long>(grp) * g; scm = n;
            rows = batch; red = dim; ncols = cols; bcols = cols;
        }
        else if (mode == 1)
        {
            a = dy + static_cast<long long>(grp) * g; sam = n; sar = 1;
            b = w + grp * dg; sbr = 1; sbn = g;
            o = out + static_cast<long long>(grp) * dim; scm = kd;
            rows = batch; red = cols; ncols = dim; bcols = dim;
        }
        else
        {
            a = x + static_cast<long long>(grp) * dim; sam = 1; sar = kd;
            b = dy + static_cast<long long>(grp) * g; sbr = n; sbn = 1;
            o = out + grp * dg; scm = g;
            rows = dim; red = batch; ncols = g; bcols = cols;
        }
        if (m0 >= rows || n0 >= ncols) continue; // block-uniform: no barrier is split
        float acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
        // Tile coordinates this thread loads (A: row amm, reduction arr; B: reduction brr, column bcc).
        int amm[4], arr[4], brr[4], bcc[4];
#pragma unroll
        for (int i = 0; i < 4; i++)
        {
            if (sar == 1) { arr[i] = tid & 15; amm[i] = (tid >> 4) + 16 * i; }
            else { amm[i] = tid & 63; arr[i] = (tid >> 6) + 4 * i; }
            if (sbn == 1) { bcc[i] = tid & 63; brr[i] = (tid >> 6) + 4 * i; }
            else { brr[i] = tid & 15; bcc[i] = (tid >> 4) + 16 * i; }
        }
        // The next step's operands are fetched into registers while this step computes (the global
        // loads' latency hides behind the 16-deep product; the paper's forward has 48 steps).
        float ra[4], rb[4];
        auto fetch = [&](int r0) {
#pragma unroll
            for (int i = 0; i < 4; i++)
            {
                int gm = m0 + amm[i], gr = r0 + arr[i];
                ra[i] = gm < rows && gr < red ? a[gm * sam + gr * sar] : 0.0f;
                int gc = n0 + bcc[i];
                gr = r0 + brr[i];
                rb[i] = gc < bcols && gr < red ? b[gr * sbr + gc * sbn] : 0.0f;
            }
        };
        fetch(0);
        for (int r0 = 0; r0 < red; r0 += GD_STEP)
        {
#pragma unroll
            for (int i = 0; i < 4; i++)
            {
                as[arr[i]][amm[i]] = ra[i];
                bs[brr[i]][bcc[i]] = rb[i];
            }
            __syncthreads();
            if (r0 + GD_STEP < red) fetch(r0 + GD_STEP);
#pragma unroll
            for (int kk = 0; kk < GD_STEP; kk++)
            {
                float av[4], bv[4];
#pragma unroll
                for (int i = 0; i < 4; i++) av[i] = as[kk][ty + 16 * i];
#pragma unroll
                for (int j = 0; j < 4; j++) bv[j] = bs[kk][tx + 16 * j];
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
            }
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 4; i++)
        {
            int m = m0 + ty + 16 * i;
            if (m >= rows) continue;
#pragma unroll
            for (int j = 0; j < 4; j++)
            {
                int c = n0 + tx + 16 * j;
                if (c >= ncols) continue;
                float v = acc[i][j];
                if (mode == 0) v = bias ? v + bias[grp * g + c] : v;
                else v *= sc;
                o[m * scm + c] = v;
            }
        }
    }
}

// One block (GROUP_DECODE_ROW_THREADS threads) per image, grid-stride over images: the row loop is
// uniform over the block, so every thread reaches every barrier.
extern "C" __global__ void group_decode_asl_rows_f32(const float* __restrict__ x, const float* __restrict__ w,
                                                     const float* __restrict__ bias, const float* __restrict__ targets,
                                                     const float* __restrict__ weights, float* __restrict__ grads,
                                                     float* __restrict__ part, int batch, int groups, int dim, int g,
                                                     int n, float gamma_pos, float gamma_neg, float clip, float eps,
                                                     float alpha_pos, float alpha_neg, float gamma_unannotated,
                                                     float alpha_unannotated, int focus_constant)
{
    __shared__ float sum_sh[GROUP_DECODE_ROW_THREADS];
    __shared__ float cnt_sh[GROUP_DECODE_ROW_THREADS];
    const KernelsAslParams a = kernels_asl_params(gamma_pos, gamma_neg, clip, eps, alpha_pos, alpha_neg,
                                                  gamma_unannotated, alpha_unannotated, focus_constant);
    int tid = threadIdx.x;
    int chunks = (n + GROUP_DECODE_ROW_THREADS - 1) / GROUP_DECODE_ROW_THREADS;
    long long tiles = static_cast<long long>(batch) * chunks;
    for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x)
    {
        int b = static_cast<int>(tile / chunks);
        int j = static_cast<int>(tile - static_cast<long long>(b) * chunks) * GROUP_DECODE_ROW_THREADS + tid;
        float s = 0.0f, cnt = 0.0f;
        if (j < n)
        {
            int grp = j / g, c = j - grp * g;
            const float* xr = x + (static_cast<long long>(b) * groups + grp) * dim;
            const float* wc = w + static_cast<long long>(grp) * dim * g + c;
            float acc = 0.0f;
            for (int t = 0; t < dim; t++) acc += xr[t] * wc[static_cast<long long>(t) * g];
            float logit = bias ? acc + bias[j] : acc;
            long long at = static_cast<long long>(b) * n + j;
            float wt = weights ? weights[at] : 1.0f;
            float gr;
            float l = kernels_asl_entry(logit, targets[at], a, &gr);
            grads[at] = wt * gr;
            s = wt * l;
            cnt = wt != 0.0f ? 1.0f : 0.0f;
        }
        sum_sh[tid] = s;
        cnt_sh[tid] = cnt;
        __syncthreads();
        for (int half = GROUP_DECODE_ROW_THREADS / 2; half > 0; half >>= 1)
        {
            if (tid < half)
            {
                sum_sh[tid] += sum_sh[tid + half];
                cnt_sh[tid] += cnt_sh[tid + half];
            }
            __syncthreads();
        }
        if (tid == 0)
        {
            part[tile] = sum_sh[0];
            part[tiles + tile] = cnt_sh[0];
        }
        __syncthreads();
    }
}

// One thread: the tiles' losses (compensated) and counts in tile order, loss[0], and the
// gradient scale part[2T] (1, or 1 / count for the mean; 1 / 1 when no weight is non-zero).
extern "C" __global__ void group_decode_asl_finish_f32(float* __restrict__ part, float* __restrict__ loss,
                                                       long long tiles, int mean)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    float s = 0.0f, comp = 0.0f;
    long long count = 0;
    for (long long i = 0; i < tiles; i++)
    {
        float v = part[i] - comp;
        float t = s + v;
        comp = (t - s) - v;
        s = t;
        count += static_cast<long long>(part[tiles + i]);
    }
    float scale = mean ? 1.0f / static_cast<float>(count > 0 ? count : 1) : 1.0f;
    loss[0] = s * scale;
    part[2 * tiles] = scale;
}

#if !defined(__CUDACC_RTC__)
static const unsigned kGroupDecodeBlock = 256;

static int group_decode_gemm(const float* x, const float* w, const float* dy, const float* bias, const float* scale,
                             float* out, int mode, int batch, int groups, int dim, int g, int n, void* stream)
{
    int rows = mode == 2 ? dim : batch, cols = mode == 0 ? g : mode == 1 ? dim : g;
    if (rows <= 0 || cols <= 0 || groups <= 0) return 0;
    dim3 grid(static_cast<unsigned>((cols + GD_TILE - 1) / GD_TILE), static_cast<unsigned>((rows + GD_TILE - 1) / GD_TILE),
              static_cast<unsigned>(groups < static_cast<int>(KERNELS_MAX_BLOCKS) ? groups : KERNELS_MAX_BLOCKS));
    return KERNELS_LAUNCH(group_decode_gemm_f32, grid, dim3(GD_THREADS), 0, stream, x, w, dy, bias, scale, out, mode,
                          batch, groups, dim, g, n);
}

extern "C" int kernels_group_decode_forward_f32(const float* x, const float* w, const float* bias, float* y, int batch,
                                                int groups, int dim, int g, int n, void* stream)
{
    long long total = static_cast<long long>(batch) * n;
    if (total <= 0) return 0;
    if (g >= GROUP_DECODE_GEMM_MIN_G)
        return group_decode_gemm(x, w, nullptr, bias, nullptr, y, 0, batch, groups, dim, g, n, stream);
    return KERNELS_LAUNCH(group_decode_forward_f32, dim3(kernels_grid_for(total * 32, kGroupDecodeBlock)),
                          dim3(kGroupDecodeBlock), 0, stream, x, w, bias, y, batch, groups, dim, g, n);
}

// g >= GROUP_DECODE_GEMM_MIN_G: dx and dw by group_decode_gemm_f32, dbias alone by
// group_decode_backward_f32 (nx = nw = 0); smaller g (COCO's g 1) all in group_decode_backward_f32.
extern "C" int kernels_group_decode_backward_f32(const float* x, const float* w, const float* dy, float* dx, float* dw,
                                                 float* dbias, const float* scale, int batch, int groups, int dim,
                                                 int g, int n, void* stream)
{
    bool gemm = g >= GROUP_DECODE_GEMM_MIN_G;
    if (gemm)
    {
        int rc = 0;
        if (dx) rc = group_decode_gemm(x, w, dy, nullptr, scale, dx, 1, batch, groups, dim, g, n, stream);
        if (rc == 0 && dw) rc = group_decode_gemm(x, w, dy, nullptr, scale, dw, 2, batch, groups, dim, g, n, stream);
        if (rc != 0) return rc;
    }
    long long nx = dx && !gemm ? static_cast<long long>(batch) * groups * dim : 0;
    long long nw = dw && !gemm ? static_cast<long long>(groups) * dim * g : 0;
    long long nb = dbias ? n : 0;
    long long total = nx + nw + nb;
    if (total <= 0) return 0;
    return KERNELS_LAUNCH(group_decode_backward_f32, dim3(kernels_grid_for(total, kGroupDecodeBlock)),
                          dim3(kGroupDecodeBlock), 0, stream, x, w, dy, dx, dw, dbias, scale, batch, groups, dim, g, n,
                          nx, nw, nb);
}

// grads: [B*N] scratch, part: [2T + 1] scratch (T = B * ceil(N / 256) tiles), both the caller's.
extern "C" int kernels_group_decode_asl_f32(const float* x, const float* w, const float* bias, const float* targets,
                                            const float* weights, float* loss, float* dx, float* dw, float* dbias,
                                            float* grads, float* part, int batch, int groups, int dim, int g, int n,
                                            const KernelsAslParams* params, void* stream)
{
    if (batch <= 0 || n <= 0) return 0;
    const KernelsAslParams& a = *params;
    long long tiles = static_cast<long long>(batch) * ((n + GROUP_DECODE_ROW_THREADS - 1) / GROUP_DECODE_ROW_THREADS);
    unsigned blocks = tiles < KERNELS_MAX_BLOCKS ? static_cast<unsigned>(tiles) : KERNELS_MAX_BLOCKS;
    int rc = KERNELS_LAUNCH(group_decode_asl_rows_f32, dim3(blocks), dim3(GROUP_DECODE_ROW_THREADS), 0, stream, x, w,
                            bias, targets, weights, grads, part, batch, groups, dim, g, n, a.gamma_pos, a.gamma_neg,
                            a.clip, a.eps, a.alpha_pos, a.alpha_neg, a.gamma_unannotated, a.alpha_unannotated,
                            a.focus_constant);
    if (rc != 0) return rc;
    rc = KERNELS_LAUNCH(group_decode_asl_finish_f32, dim3(1), dim3(32), 0, stream, part, loss, tiles, a.mean);
    if (rc != 0) return rc;
    return kernels_group_decode_backward_f32(x, w, grads, dx, dw, dbias, part + 2 * tiles, batch, groups, dim, g, n,
                                             stream);
}
#endif
