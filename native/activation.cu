// Activation family, float32: relu, leaky relu, exact gelu, sigmoid, tanh; forward and backward.
// Kind numbers match Kernels.Ops.Activation.ActivationKind (Relu 0, LeakyRelu 1, Gelu 2,
// Sigmoid 3, Tanh 4). Geometry: 1-D grid-stride loops, 256 threads per block, at most
// KERNELS_MAX_BLOCKS blocks. The kind is uniform over the launch, so the switch never diverges.
#include "kernels/emu.h"

#define KERNELS_ACT_RELU 0
#define KERNELS_ACT_LEAKY_RELU 1
#define KERNELS_ACT_GELU 2
#define KERNELS_ACT_SIGMOID 3
#define KERNELS_ACT_TANH 4

extern "C" __global__ void activation_forward_f32(int kind, float alpha, const float* __restrict__ x,
                                                  float* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float v = x[i], r;
        switch (kind)
        {
        case KERNELS_ACT_RELU: r = v > 0.0f ? v : 0.0f; break;
        case KERNELS_ACT_LEAKY_RELU: r = v > 0.0f ? v : alpha * v; break;
        case KERNELS_ACT_GELU: r = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); break;
        case KERNELS_ACT_SIGMOID: r = 1.0f / (1.0f + expf(-v)); break;
        default: r = tanhf(v); break;
        }
        y[i] = r;
    }
}

extern "C" __global__ void activation_backward_f32(int kind, float alpha, const float* __restrict__ x,
                                                   const float* __restrict__ y, const float* __restrict__ dy,
                                                   float* __restrict__ dx, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float g = dy[i], r;
        switch (kind)
        {
        case KERNELS_ACT_RELU: r = x[i] > 0.0f ? g : 0.0f; break;
        case KERNELS_ACT_LEAKY_RELU: r = x[i] > 0.0f ? g : alpha * g; break;
        case KERNELS_ACT_GELU:
        {
            float v = x[i];
            float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
            float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
            r = g * (cdf + v * pdf);
            break;
        }
        case KERNELS_ACT_SIGMOID: r = g * y[i] * (1.0f - y[i]); break;
        default: r = g * (1.0f - y[i] * y[i]); break;
        }
        dx[i] = r;
    }
}

#if !defined(__CUDACC_RTC__)
static const unsigned kActivationBlock = 256;
extern "C" int kernels_activation_forward_f32(int kind, float alpha, const float* x, float* y, long long n,
                                              void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(activation_forward_f32, dim3(kernels_grid_for(n, kActivationBlock)),
                          dim3(kActivationBlock), 0, stream, kind, alpha, x, y, n);
}

extern "C" int kernels_activation_backward_f32(int kind, float alpha, const float* x, const float* y,
                                               const float* dy, float* dx, long long n, void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(activation_backward_f32, dim3(kernels_grid_for(n, kActivationBlock)),
                          dim3(kActivationBlock), 0, stream, kind, alpha, x, y, dy, dx, n);
}
#endif
