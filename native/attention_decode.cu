// AttentionDecode family, float32 (Kernels.Ops.AttentionDecode.IAttentionDecode): multi-head
// cross-attention of Q queries against T tokens per image. Layouts, row-major: q, o [B, Q, H·D];
// k, v [B, T, H·D] (head h uses columns h·D .. h·D+D-1); probs [B, H, Q, T], the softmax BEFORE
// dropout. Dropout on the weights: element i of probs (its linear index, as uint) is kept when
// fmix32(fmix32(i ^ a) + b) >= threshold (Kernels.Ops.Dropout.DropoutMask) and scaled by keep_scale
// = 1/(1 − p); threshold 0 keeps every element.
//
// Geometry: 128 threads (4 warps) per block, head dim D <= 128 (a lane holds d = lane + 32·j,
// j < 4), tokens staged in shared memory in chunks of 32 (one token per lane), so any T works.
//  * forward: block (query tile of 16, head, image); each warp owns 4 queries. Online softmax over
//    the chunks (running max and sum per query); the raw scores go to probs and are normalised in
//    place at the end (each lane re-reads only what it wrote itself).
//  * backward, three launches, deterministic (no atomics), with P the saved probs, M the dropout
//    factor (keep_scale or 0), g = dO·v and r = Σ_t P·M·g per query row:
//      1. rowsum: r per (image, head, query), written to dq's first element of that head's slot
//         (dq is scratch until launch 3 overwrites it; each slot is owned by one block there);
//      2. dkdv: block (token tile of 16, head, image), warp owns 4 tokens, loops over query chunks
//         of 32: dv_t = Σ_q P·M·dO_q, dk_t = scale · Σ_q dS·q_q with dS = P·(M·g − r);
//      3. dq: like the forward's geometry: dq_q = scale · Σ_t dS·k_t (reads its r first).
#include "kernels/emu.h"

#define AD_DMAX 128                      // largest head dim
#define AD_TC 32                         // tokens per chunk (one per lane)
#define AD_WARPS 4
#define AD_THREADS (AD_WARPS * 32)
#define AD_QPW 4                         // queries per warp (forward, dq, rowsum)
#define AD_QT (AD_WARPS * AD_QPW)        // queries per block
#define AD_QC 32                         // queries per chunk in dkdv (one per lane)
#define AD_TPW 4                         // tokens per warp in dkdv
#define AD_TT (AD_WARPS * AD_TPW)        // tokens per block in dkdv
#define AD_DJ (AD_DMAX / 32)             // head-dim slices per lane
#define AD_NEG_INF (-__int_as_float(0x7f800000)) // no INFINITY macro under NVRTC

static __device__ __forceinline__ unsigned ad_fmix(unsigned h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
}

// The dropout factor of probs element i.
static __device__ __forceinline__ float ad_mask(unsigned key_a, unsigned key_b, unsigned i, unsigned threshold,
                                                float keep_scale)
{
    return threshold == 0u || ad_fmix(ad_fmix(i ^ key_a) + key_b) >= threshold ? keep_scale : 0.0f;
}

static __device__ __forceinline__ float ad_warp_max(float v)
{
    for (int s = 16; s > 0; s >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, s));
    return v;
}

static __device__ __forceinline__ float ad_warp_sum(float v)
{
    for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
    return v;
}

extern "C" __global__ void attention_decode_forward_f32(int nq, int nt, int nh, int hd, float scale,
                                                        unsigned threshold, unsigned key_a, unsigned key_b,
                                                        float keep_scale, const float* __restrict__ q,
                                                        const float* __restrict__ k, const float* __restrict__ v,
                                                        float* __restrict__ o, float* __restrict__ probs)
{
    __shared__ float ks[AD_TC][AD_DMAX + 1]; // lane = token reads a row: padded against bank conflicts
    __shared__ float vs[AD_TC][AD_DMAX];     // lane = d
    __shared__ float qs[AD_QT][AD_DMAX];     // broadcast reads
    __shared__ float ps[AD_WARPS][AD_QPW][AD_TC];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int h = blockIdx.y, b = blockIdx.z, q0 = blockIdx.x * AD_QT, wq = warp * AD_QPW;
    const long long dim = static_cast<long long>(nh) * hd;

    for (int i = tid; i < AD_QT * hd; i += AD_THREADS)
    {
        int r = i / hd, d = i - r * hd, qi = q0 + r;
        qs[r][d] = qi < nq ? scale * q[(static_cast<long long>(b) * nq + qi) * dim + static_cast<long long>(h) * hd + d]
                           : 0.0f;
    }

    float m[AD_QPW], l[AD_QPW], acc[AD_QPW][AD_DJ];
#pragma unroll
    for (int i = 0; i < AD_QPW; ++i)
    {
        m[i] = AD_NEG_INF;
        l[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < AD_DJ; ++j) acc[i][j] = 0.0f;
    }
    const long long kv0 = static_cast<long long>(b) * nt * dim + static_cast<long long>(h) * hd;
    // probs row of this warp's first query; rows of queries past nq are never written.
    const long long row0 = ((static_cast<long long>(b) * nh + h) * nq + q0 + wq) * nt;

    for (int t0 = 0; t0 < nt; t0 += AD_TC)
    {
        __syncthreads(); // the previous chunk is consumed (and the query tile is stored)
        for (int i = tid; i < AD_TC * hd; i += AD_THREADS)
        {
            int r = i / hd, d = i - r * hd, t = t0 + r;
            float kk = 0.0f, vv = 0.0f;
            if (t < nt)
            {
                long long at = kv0 + static_cast<long long>(t) * dim + d;
                kk = k[at];
                vv = v[at];
            }
            ks[r][d] = kk;
            vs[r][d] = vv;
        }
        __syncthreads();

        const int t = t0 + lane;
        const bool valid = t < nt;
        float s[AD_QPW];
#pragma unroll
        for (int i = 0; i < AD_QPW; ++i) s[i] = 0.0f;
        for (int d = 0; d < hd; ++d)
        {
            float kd = ks[lane][d];
#pragma unroll
            for (int i = 0; i < AD_QPW; ++i) s[i] += qs[wq + i][d] * kd;
        }
#pragma unroll
        for (int i = 0; i < AD_QPW; ++i)
        {
            float si = valid ? s[i] : AD_NEG_INF;
            float mnew = fmaxf(m[i], ad_warp_max(si)); // finite: every chunk has a valid token
            float alpha = expf(m[i] - mnew);           // 0 on the first chunk
            float p = expf(si - mnew);                 // 0 for tokens past nt
            l[i] = l[i] * alpha + p;
            m[i] = mnew;
            long long at = row0 + static_cast<long long>(i) * nt + t;
            if (probs != nullptr && valid && q0 + wq + i < nq) probs[at] = si;
            ps[warp][i][lane] = valid ? p * ad_mask(key_a, key_b, static_cast<unsigned>(at), threshold, keep_scale)
                                      : 0.0f;
#pragma unroll
            for (int j = 0; j < AD_DJ; ++j) acc[i][j] *= alpha;
        }
        __syncwarp();
        for (int tt = 0; tt < AD_TC; ++tt)
        {
            float vd[AD_DJ];
#pragma unroll
            for (int j = 0; j < AD_DJ; ++j) vd[j] = vs[tt][lane + 32 * j]; // d >= hd: unused garbage
#pragma unroll
            for (int i = 0; i < AD_QPW; ++i)
            {
                float w = ps[warp][i][tt];
#pragma unroll
                for (int j = 0; j < AD_DJ; ++j) acc[i][j] += w * vd[j];
            }
        }
    }

#pragma unroll
    for (int i = 0; i < AD_QPW; ++i)
    {
        float inv = 1.0f / ad_warp_sum(l[i]);
        int qi = q0 + wq + i;
        if (qi >= nq) continue;
        float* orow = o + (static_cast<long long>(b) * nq + qi) * dim + static_cast<long long>(h) * hd;
#pragma unroll
        for (int j = 0; j < AD_DJ; ++j)
            if (lane + 32 * j < hd) orow[lane + 32 * j] = acc[i][j] * inv;
        if (probs != nullptr)
        {
            // Same lane, same elements as written above: no synchronisation needed.
            float* prow = probs + row0 + static_cast<long long>(i) * nt;
            for (int t = lane; t < nt; t += AD_TC) prow[t] = expf(prow[t] - m[i]) * inv;
        }
    }
}

// Launches 1 and 3 of the backward (see the top): per query row, g = dO·v_t for each token, and
// either r = Σ P·M·g (kDq false, stored in dq's slot) or dq = scale · Σ P·(M·g − r)·k_t.
template <bool kDq>
static __device__ __forceinline__ void ad_backward_rows(int nq, int nt, int nh, int hd, float scale,
                                                        unsigned threshold, unsigned key_a, unsigned key_b,
                                                        float keep_scale, const float* __restrict__ k,
                                                        const float* __restrict__ v,
                                                        const float* __restrict__ probs,
                                                        const float* __restrict__ dout, float* __restrict__ dq)
{
    __shared__ float vs[AD_TC][AD_DMAX + 1]; // lane = token reads a row
    __shared__ float ks[AD_TC][AD_DMAX];     // lane = d (dq only)
    __shared__ float gs[AD_QT][AD_DMAX];     // dO tile, broadcast reads
    __shared__ float rs[AD_QT];
    __shared__ float ws[AD_WARPS][AD_QPW][AD_TC];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int h = blockIdx.y, b = blockIdx.z, q0 = blockIdx.x * AD_QT, wq = warp * AD_QPW;
    const long long dim = static_cast<long long>(nh) * hd;

    for (int i = tid; i < AD_QT * hd; i += AD_THREADS)
    {
        int r = i / hd, d = i - r * hd, qi = q0 + r;
        gs[r][d] = qi < nq ? dout[(static_cast<long long>(b) * nq + qi) * dim + static_cast<long long>(h) * hd + d]
                           : 0.0f;
    }
    if (kDq && tid < AD_QT)
    {
        int qi = q0 + tid;
        rs[tid] = qi < nq ? dq[(static_cast<long long>(b) * nq + qi) * dim + static_cast<long long>(h) * hd] : 0.0f;
    }

    float racc[AD_QPW], acc[AD_QPW][AD_DJ];
#pragma unroll
    for (int i = 0; i < AD_QPW; ++i)
    {
        racc[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < AD_DJ; ++j) acc[i][j] = 0.0f;
    }
    const long long kv0 = static_cast<long long>(b) * nt * dim + static_cast<long long>(h) * hd;
    const long long row0 = ((static_cast<long long>(b) * nh + h) * nq + q0 + wq) * nt;

    for (int t0 = 0; t0 < nt; t0 += AD_TC)
    {
        __syncthreads();
        for (int i = tid; i < AD_TC * hd; i += AD_THREADS)
        {
            int r = i / hd, d = i - r * hd, t = t0 + r;
            long long at = kv0 + static_cast<long long>(t) * dim + d;
            vs[r][d] = t < nt ? v[at] : 0.0f;
            if (kDq) ks[r][d] = t < nt ? k[at] : 0.0f;
        }
        __syncthreads();

        const int t = t0 + lane;
        float g[AD_QPW];
#pragma unroll
        for (int i = 0; i < AD_QPW; ++i) g[i] = 0.0f;
        for (int d = 0; d < hd; ++d)
        {
            float vd = vs[lane][d];
#pragma unroll
            for (int i = 0; i < AD_QPW; ++i) g[i] += gs[wq + i][d] * vd;
        }
#pragma unroll
        for (int i = 0; i < AD_QPW; ++i)
        {
            long long at = row0 + static_cast<long long>(i) * nt + t;
            float p = 0.0f, dp = 0.0f;
            if (t < nt && q0 + wq + i < nq)
            {
                p = probs[at];
                dp = g[i] * ad_mask(key_a, key_b, static_cast<unsigned>(at), threshold, keep_scale);
            }
            if (kDq) ws[warp][i][lane] = p * (dp - rs[wq + i]);
            else racc[i] += p * dp;
        }
        if (kDq)
        {
            __syncwarp();
            for (int tt = 0; tt < AD_TC; ++tt)
            {
                float kd[AD_DJ];
#pragma unroll
                for (int j = 0; j < AD_DJ; ++j) kd[j] = ks[tt][lane + 32 * j];
#pragma unroll
                for (int i = 0; i < AD_QPW; ++i)
                {
                    float w = ws[warp][i][tt];
#pragma unroll
                    for (int j = 0; j < AD_DJ; ++j) acc[i][j] += w * kd[j];
                }
            }
        }
    }

#pragma unroll
    for (int i = 0; i < AD_QPW; ++i)
    {
        float r = kDq ? 0.0f : ad_warp_sum(racc[i]);
        int qi = q0 + wq + i;
        if (qi >= nq) continue;
        float* drow = dq + (static_cast<long long>(b) * nq + qi) * dim + static_cast<long long>(h) * hd;
        if (!kDq)
        {
            if (lane == 0) drow[0] = r;
        }
        else
        {
            // rs was read before the chunk loop's first barrier, so overwriting the slot is safe.
#pragma unroll
            for (int j = 0; j < AD_DJ; ++j)
                if (lane + 32 * j < hd) drow[lane + 32 * j] = scale * acc[i][j];
        }
    }
}

extern "C" __global__ void attention_decode_rowsum_f32(int nq, int nt, int nh, int hd, unsigned threshold,
                                                       unsigned key_a, unsigned key_b, float keep_scale,
                                                       const float* __restrict__ v, const float* __restrict__ probs,
                                                       const float* __restrict__ dout, float* __restrict__ dq)
{
    ad_backward_rows<false>(nq, nt, nh, hd, 1.0f, threshold, key_a, key_b, keep_scale, nullptr, v, probs, dout, dq);
}

extern "C" __global__ void attention_decode_dq_f32(int nq, int nt, int nh, int hd, float scale, unsigned threshold,
                                                   unsigned key_a, unsigned key_b, float keep_scale,
                                                   const float* __restrict__ k, const float* __restrict__ v,
                                                   const float* __restrict__ probs, const float* __restrict__ dout,
                                                   float* __restrict__ dq)
{
    ad_backward_rows<true>(nq, nt, nh, hd, scale, threshold, key_a, key_b, keep_scale, k, v, probs, dout, dq);
}

// Launch 2: dk and dv of a tile of 16 tokens, gathering over the queries in chunks of 32.
// dq holds the row sums r (launch 1) in the first element of each (query, head) slot.
extern "C" __global__ void attention_decode_dkdv_f32(int nq, int nt, int nh, int hd, float scale, unsigned threshold,
                                                     unsigned key_a, unsigned key_b, float keep_scale,
                                                     const float* __restrict__ q, const float* __restrict__ v,
                                                     const float* __restrict__ probs, const float* __restrict__ dout,
                                                     const float* __restrict__ dq, float* __restrict__ dk,
                                                     float* __restrict__ dv)
{
    __shared__ float qs[AD_QC][AD_DMAX];     // lane = d
    __shared__ float gs[AD_QC][AD_DMAX + 1]; // dO: lane = query reads a row, lane = d reads a column
    __shared__ float vt[AD_TT][AD_DMAX];     // this block's v rows, broadcast reads
    __shared__ float pt[AD_QC][AD_TT];
    __shared__ float rs[AD_QC];
    __shared__ float as[AD_WARPS][AD_TPW][AD_QC]; // P·M
    __shared__ float ds[AD_WARPS][AD_TPW][AD_QC]; // P·(M·g − r)
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int h = blockIdx.y, b = blockIdx.z, t0 = blockIdx.x * AD_TT, wt = warp * AD_TPW;
    const long long dim = static_cast<long long>(nh) * hd;
    const long long kv0 = static_cast<long long>(b) * nt * dim + static_cast<long long>(h) * hd;
    const long long q0row = static_cast<long long>(b) * nq * dim + static_cast<long long>(h) * hd;
    const long long p0 = (static_cast<long long>(b) * nh + h) * nq * nt;

    for (int i = tid; i < AD_TT * hd; i += AD_THREADS)
    {
        int r = i / hd, d = i - r * hd, t = t0 + r;
        vt[r][d] = t < nt ? v[kv0 + static_cast<long long>(t) * dim + d] : 0.0f;
    }

    float adv[AD_TPW][AD_DJ], adk[AD_TPW][AD_DJ];
#pragma unroll
    for (int i = 0; i < AD_TPW; ++i)
#pragma unroll
        for (int j = 0; j < AD_DJ; ++j) adv[i][j] = adk[i][j] = 0.0f;

    for (int c0 = 0; c0 < nq; c0 += AD_QC)
    {
        __syncthreads(); // the previous chunk is consumed (and vt is stored)
        for (int i = tid; i < AD_QC * hd; i += AD_THREADS)
        {
            int r = i / hd, d = i - r * hd, qi = c0 + r;
            float qq = 0.0f, gg = 0.0f;
            if (qi < nq)
            {
                long long at = q0row + static_cast<long long>(qi) * dim + d;
                qq = q[at];
                gg = dout[at];
            }
            qs[r][d] = qq;
            gs[r][d] = gg;
        }
        for (int i = tid; i < AD_QC * AD_TT; i += AD_THREADS)
        {
            int r = i / AD_TT, c = i - r * AD_TT, qi = c0 + r, t = t0 + c;
            pt[r][c] = qi < nq && t < nt ? probs[p0 + static_cast<long long>(qi) * nt + t] : 0.0f;
        }
        if (tid < AD_QC) rs[tid] = c0 + tid < nq ? dq[q0row + static_cast<long long>(c0 + tid) * dim] : 0.0f;
        __syncthreads();

        const int qi = c0 + lane;
        float g[AD_TPW];
#pragma unroll
        for (int i = 0; i < AD_TPW; ++i) g[i] = 0.0f;
        for (int d = 0; d < hd; ++d)
        {
            float gd = gs[lane][d];
#pragma unroll
            for (int i = 0; i < AD_TPW; ++i) g[i] += gd * vt[wt + i][d];
        }
#pragma unroll
        for (int i = 0; i < AD_TPW; ++i)
        {
            int t = t0 + wt + i;
            float p = pt[lane][wt + i], mk = 0.0f; // p is 0 past nq or nt
            if (qi < nq && t < nt)
                mk = ad_mask(key_a, key_b, static_cast<unsigned>(p0 + static_cast<long long>(qi) * nt + t), threshold,
                             keep_scale);
            as[warp][i][lane] = p * mk;
            ds[warp][i][lane] = p * (mk * g[i] - rs[lane]);
        }
        __syncwarp();
        for (int r = 0; r < AD_QC; ++r)
        {
            float gd[AD_DJ], qd[AD_DJ];
#pragma unroll
            for (int j = 0; j < AD_DJ; ++j)
            {
                gd[j] = gs[r][lane + 32 * j];
                qd[j] = qs[r][lane + 32 * j];
            }
#pragma unroll
            for (int i = 0; i < AD_TPW; ++i)
            {
                float a = as[warp][i][r], s = ds[warp][i][r];
#pragma unroll
                for (int j = 0; j < AD_DJ; ++j)
                {
                    adv[i][j] += a * gd[j];
                    adk[i][j] += s * qd[j];
                }
            }
        }
    }

#pragma unroll
    for (int i = 0; i < AD_TPW; ++i)
    {
        int t = t0 + wt + i;
        if (t >= nt) continue;
        long long at = kv0 + static_cast<long long>(t) * dim;
#pragma unroll
        for (int j = 0; j < AD_DJ; ++j)
        {
            int d = lane + 32 * j;
            if (d >= hd) continue;
            dv[at + d] = adv[i][j];
            dk[at + d] = scale * adk[i][j];
        }
    }
}

#if !defined(__CUDACC_RTC__)
static inline unsigned ad_blocks(int n, int per) { return static_cast<unsigned>((n + per - 1) / per); }

extern "C" int kernels_attention_decode_forward_f32(int nb, int nq, int nt, int nh, int hd, float scale,
                                                    unsigned threshold, unsigned key_a, unsigned key_b,
                                                    float keep_scale, const float* q, const float* k, const float* v,
                                                    float* o, float* probs, void* stream)
{
    if (nb <= 0 || nq <= 0 || nh <= 0 || hd <= 0) return 0;
    if (nt <= 0 || hd > AD_DMAX) return 9; // cudaErrorInvalidConfiguration: the C# side refuses these first
    return KERNELS_LAUNCH(attention_decode_forward_f32, dim3(ad_blocks(nq, AD_QT), nh, nb), dim3(AD_THREADS), 0,
                          stream, nq, nt, nh, hd, scale, threshold, key_a, key_b, keep_scale, q, k, v, o, probs);
}

extern "C" int kernels_attention_decode_backward_f32(int nb, int nq, int nt, int nh, int hd, float scale,
                                                     unsigned threshold, unsigned key_a, unsigned key_b,
                                                     float keep_scale, const float* q, const float* k,
                                                     const float* v, const float* probs, const float* dout, float* dq,
                                                     float* dk, float* dv, void* stream)
{
    if (nb <= 0 || nq <= 0 || nh <= 0 || hd <= 0) return 0;
    if (nt <= 0 || hd > AD_DMAX) return 9;
    dim3 rows(ad_blocks(nq, AD_QT), nh, nb), tokens(ad_blocks(nt, AD_TT), nh, nb);
    int rc = KERNELS_LAUNCH(attention_decode_rowsum_f32, rows, dim3(AD_THREADS), 0, stream, nq, nt, nh, hd,
                            threshold, key_a, key_b, keep_scale, v, probs, dout, dq);
    if (rc != 0) return rc;
    rc = KERNELS_LAUNCH(attention_decode_dkdv_f32, tokens, dim3(AD_THREADS), 0, stream, nq, nt, nh, hd, scale,
                        threshold, key_a, key_b, keep_scale, q, v, probs, dout, static_cast<const float*>(dq), dk,
                        dv);
    if (rc != 0) return rc;
    return KERNELS_LAUNCH(attention_decode_dq_f32, rows, dim3(AD_THREADS), 0, stream, nq, nt, nh, hd, scale,
                          threshold, key_a, key_b, keep_scale, k, v, probs, dout, dq);
}
#endif
