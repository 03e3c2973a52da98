// AsymmetricLoss family, float32: the fused loss + gradient of Kernels.Ops.AsymmetricLoss (the
// per-entry math is kernels/asl.h). Structure as Ilgpu.cs: one grid-stride pass over the logits
// writes each entry's gradient and one partial sum per block; a single-block second stage adds
// the partials in a fixed order into loss[0] (deterministic for a given grid). For Mean with
// weights, a pre-pass over the weights counts the non-zero ones per block and one block totals
// them into counts[groups], which the entry pass reads before writing scaled gradients.
// Blocks of 256 threads, grid kernels_grid_for(n, 256); the scratch (partials[groups],
// counts[groups + 1]) is the caller's. Absent weights / gradients are null pointers.
#include "kernels/asl.h"
#include "kernels/block_sum.h"

#define KERNELS_ASL_BLOCK 256

// Tree sum over the block; every thread must call it; every thread gets the total.
__device__ __forceinline__ float kernels_asl_scale(const int* counts, int count_slot, float host_scale)
{
    if (count_slot < 0) return host_scale;
    int c = counts[count_slot];
    return 1.0f / static_cast<float>(c > 1 ? c : 1);
}

extern "C" __global__ void asymmetric_loss_count_f32(const float* __restrict__ w, int* __restrict__ counts,
                                                     long long n)
{
    __shared__ int sh[KERNELS_ASL_BLOCK];
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    int c = 0;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        c += w[i] != 0.0f ? 1 : 0;
    int total = kernels_block_sum<KERNELS_ASL_BLOCK>(c, sh);
    if (threadIdx.x == 0) counts[blockIdx.x] = total;
}

extern "C" __global__ void asymmetric_loss_count_total(int* counts, int groups)
{
    __shared__ int sh[KERNELS_ASL_BLOCK];
    int c = 0;
    for (int i = threadIdx.x; i < groups; i += blockDim.x) c += counts[i];
    int total = kernels_block_sum<KERNELS_ASL_BLOCK>(c, sh);
    if (threadIdx.x == 0) counts[groups] = total;
}

extern "C" __global__ void asymmetric_loss_entries_f32(const float* __restrict__ x, const float* __restrict__ y,
                                                       const float* __restrict__ w, float* __restrict__ dx,
                                                       float* __restrict__ partials, const int* __restrict__ counts,
                                                       long long n, float gamma_pos, float gamma_neg, float clip,
                                                       float eps, float alpha_pos, float alpha_neg,
                                                       float gamma_unannotated, float alpha_unannotated,
                                                       int focus_constant, int count_slot, float host_scale)
{
    __shared__ float sh[KERNELS_ASL_BLOCK];
    const KernelsAslParams a = kernels_asl_params(gamma_pos, gamma_neg, clip, eps, alpha_pos, alpha_neg,
                                                  gamma_unannotated, alpha_unannotated, focus_constant);
    float scale = kernels_asl_scale(counts, count_slot, host_scale);
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    float s = 0.0f;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float g;
        float l = kernels_asl_entry(x[i], y[i], a, &g);
        float wi = w != nullptr ? w[i] : 1.0f;
        s += wi * l;
        if (dx != nullptr) dx[i] = scale * wi * g;
    }
    float total = kernels_block_sum<KERNELS_ASL_BLOCK>(s, sh);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

extern "C" __global__ void asymmetric_loss_final_f32(const float* __restrict__ partials,
                                                     const int* __restrict__ counts, float* __restrict__ loss,
                                                     int groups, int count_slot, float host_scale)
{
    __shared__ float sh[KERNELS_ASL_BLOCK];
    float s = 0.0f;
    for (int i = threadIdx.x; i < groups; i += blockDim.x) s += partials[i];
    float total = kernels_block_sum<KERNELS_ASL_BLOCK>(s, sh);
    if (threadIdx.x == 0) loss[0] = kernels_asl_scale(counts, count_slot, host_scale) * total;
}

#if !defined(__CUDACC_RTC__)
// Blocks of the entry pass for n entries: the length of the partials scratch (counts: one more).
extern "C" int kernels_asymmetric_loss_groups(long long n)
{
    return static_cast<int>(kernels_grid_for(n, KERNELS_ASL_BLOCK));
}

// mean: 0 sum, 1 mean. w and dx may be null. partials: kernels_asymmetric_loss_groups(n) floats;
// counts: that many + 1 ints.
extern "C" int kernels_asymmetric_loss_f32(const float* x, const float* y, const float* w, float* dx, float* loss,
                                           float* partials, int* counts, long long n, float gamma_pos,
                                           float gamma_neg, float clip, float eps, float alpha_pos, float alpha_neg,
                                           float gamma_unannotated, float alpha_unannotated, int focus_constant,
                                           int mean, void* stream)
{
    unsigned groups = kernels_grid_for(n, KERNELS_ASL_BLOCK);
    int count_slot = -1;
    float host_scale = 1.0f;
    int rc;
    if (mean && w != nullptr)
    {
        count_slot = static_cast<int>(groups);
        rc = KERNELS_LAUNCH(asymmetric_loss_count_f32, dim3(groups), dim3(KERNELS_ASL_BLOCK), 0, stream, w, counts, n);
        if (rc != 0) return rc;
        rc = KERNELS_LAUNCH(asymmetric_loss_count_total, dim3(1), dim3(KERNELS_ASL_BLOCK), 0, stream, counts,
                            static_cast<int>(groups));
        if (rc != 0) return rc;
    }
    else if (mean)
        host_scale = static_cast<float>(1.0 / static_cast<double>(n > 1 ? n : 1));
    rc = KERNELS_LAUNCH(asymmetric_loss_entries_f32, dim3(groups), dim3(KERNELS_ASL_BLOCK), 0, stream, x, y, w, dx,
                        partials, static_cast<const int*>(counts), n, gamma_pos, gamma_neg, clip, eps, alpha_pos,
                        alpha_neg, gamma_unannotated, alpha_unannotated, focus_constant, count_slot, host_scale);
    if (rc != 0) return rc;
    return KERNELS_LAUNCH(asymmetric_loss_final_f32, dim3(1), dim3(KERNELS_ASL_BLOCK), 0, stream,
                          static_cast<const float*>(partials), static_cast<const int*>(counts), loss,
                          static_cast<int>(groups), count_slot, host_scale);
}
#endif
