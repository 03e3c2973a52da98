// Elementwise family, float32 subset: Axpby (y = alpha·x + beta·y, in place) and the same-shape
// binary Add / Mul (broadcasting stays on the C# side for now). Geometry: 1-D grid-stride loops,
// 256 threads per block, at most KERNELS_MAX_BLOCKS blocks.
#include "kernels/emu.h"

static const unsigned kElementwiseBlock = 256;

extern "C" __global__ void elementwise_axpby_f32(float alpha, const float* __restrict__ x, float beta,
                                                 float* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = alpha * x[i] + beta * y[i];
}

extern "C" __global__ void elementwise_add_f32(const float* __restrict__ a, const float* __restrict__ b,
                                               float* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = a[i] + b[i];
}

extern "C" __global__ void elementwise_mul_f32(const float* __restrict__ a, const float* __restrict__ b,
                                               float* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = a[i] * b[i];
}

#if !defined(__CUDACC_RTC__)
extern "C" int kernels_elementwise_axpby_f32(float alpha, const float* x, float beta, float* y, long long n,
                                             void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_axpby_f32, dim3(kernels_grid_for(n, kElementwiseBlock)),
                          dim3(kElementwiseBlock), 0, stream, alpha, x, beta, y, n);
}

extern "C" int kernels_elementwise_add_f32(const float* a, const float* b, float* y, long long n, void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_add_f32, dim3(kernels_grid_for(n, kElementwiseBlock)),
                          dim3(kElementwiseBlock), 0, stream, a, b, y, n);
}

extern "C" int kernels_elementwise_mul_f32(const float* a, const float* b, float* y, long long n, void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_mul_f32, dim3(kernels_grid_for(n, kElementwiseBlock)),
                          dim3(kElementwiseBlock), 0, stream, a, b, y, n);
}
#endif
