// Elementwise family. Arithmetic in float32: Axpby (y = alpha·x + beta·y, in place), same-shape
// Add / Mul, broadcasting binary ops, unary and scalar ops, and the sum that undoes a broadcast.
// Fill and Copy move 32- or 64-bit words (any dtype); Cast converts f32/f64/i32.
// Op numbers match Kernels.Ops.Elementwise.{BinaryOp, UnaryOp, ScalarOp}. Broadcast shapes are
// passed as up to 8 dims with per-operand element strides (0 on a broadcast axis).
// Geometry: 1-D grid-stride loops, 256 threads per block, at most KERNELS_MAX_BLOCKS blocks.
#include "kernels/emu.h"
#include "kernels/block_sum.h"

#define KERNELS_MAX_RANK 8

struct BroadcastParams
{
    int rank;
    long long dims[KERNELS_MAX_RANK];
    long long stride_a[KERNELS_MAX_RANK];
    long long stride_b[KERNELS_MAX_RANK];
};

// Output element j of `to` sums the input elements whose kept coordinates equal j's.
struct SumToShapeParams
{
    int kept_rank, reduced_rank;
    long long kept_dims[KERNELS_MAX_RANK], kept_stride[KERNELS_MAX_RANK];
    long long reduced_dims[KERNELS_MAX_RANK], reduced_stride[KERNELS_MAX_RANK];
    long long reduced_count;
};

// Max / Min as TensorPrimitives defines them: NaN wins, and +0 is above -0.
__device__ __forceinline__ float kernels_max(float a, float b)
{
    if (a != a) return a;
    if (b != b) return b;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}

__device__ __forceinline__ float kernels_min(float a, float b)
{
    if (a != a) return a;
    if (b != b) return b;
    if (a == b) return signbit(a) ? a : b;
    return a < b ? a : b;
}

__device__ __forceinline__ float kernels_binary(int op, float a, float b)
{
    switch (op)
    {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return kernels_max(a, b);
    case 5: return kernels_min(a, b);
    default: return powf(a, b);
    }
}

extern "C" __global__ void elementwise_binary_f32(int op, BroadcastParams p, const float* __restrict__ a,
                                                  const float* __restrict__ b, float* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        long long rest = i, ia = 0, ib = 0;
        for (int d = p.rank - 1; d >= 0; --d)
        {
            long long c = rest % p.dims[d];
            rest /= p.dims[d];
            ia += c * p.stride_a[d];
            ib += c * p.stride_b[d];
        }
        y[i] = kernels_binary(op, a[ia], b[ib]);
    }
}

extern "C" __global__ void elementwise_unary_f32(int op, const float* __restrict__ x, float* __restrict__ y,
                                                 long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float v = x[i], r;
        switch (op)
        {
        case 0: r = -v; break;
        case 1: r = expf(v); break;
        case 2: r = logf(v); break;
        case 3: r = sqrtf(v); break;
        case 4: r = 1.0f / sqrtf(v); break;
        case 5: r = fabsf(v); break;
        case 6: r = v * v; break;
        case 7: r = 1.0f / v; break;
        case 8: r = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); break; // NaN and -0 give 0, as the cpu
        case 9: r = sinf(v); break;
        default: r = cosf(v); break;
        }
        y[i] = r;
    }
}

extern "C" __global__ void elementwise_scalar_f32(int op, float s, const float* __restrict__ x,
                                                  float* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float v = x[i], r;
        switch (op)
        {
        case 0: r = v + s; break;
        case 1: r = v * s; break;
        case 2: r = s - v; break;
        case 3: r = s / v; break;
        case 4: r = powf(v, s); break;
        case 5: r = kernels_max(v, s); break;
        default: r = kernels_min(v, s); break;
        }
        y[i] = r;
    }
}

// From this many summed elements per output, a block (of 256 threads) sums each output: a thread
// per output walking them all is latency-bound (a [1280, 768] bias gradient took 768 threads, 1280
// dependent steps each). Below it, a thread per output (many outputs, few terms each).
#define KERNELS_SUM_BLOCK_MIN 64
#define KERNELS_SUM_BLOCK 256

__device__ __forceinline__ long long kernels_sum_kept_offset(const SumToShapeParams& p, long long j)
{
    long long rest = j, base = 0;
    for (int d = p.kept_rank - 1; d >= 0; --d)
    {
        base += (rest % p.kept_dims[d]) * p.kept_stride[d];
        rest /= p.kept_dims[d];
    }
    return base;
}

__device__ __forceinline__ long long kernels_sum_reduced_offset(const SumToShapeParams& p, long long k)
{
    long long r = k, off = 0;
    for (int d = p.reduced_rank - 1; d >= 0; --d)
    {
        off += (r % p.reduced_dims[d]) * p.reduced_stride[d];
        r /= p.reduced_dims[d];
    }
    return off;
}

// reduced_count >= KERNELS_SUM_BLOCK_MIN: a block per output j (grid-stride over outputs; blockDim.x
// must be KERNELS_SUM_BLOCK), its threads striding the summed elements, then a shared-memory tree
// in fixed order (deterministic). Otherwise a thread per output, summing in index order. The branch
// is uniform over the grid, so every thread of a block reaches every barrier.
extern "C" __global__ void elementwise_sum_to_shape_f32(SumToShapeParams p, const float* __restrict__ x,
                                                        float* __restrict__ y, long long n_out)
{
    if (p.reduced_count >= KERNELS_SUM_BLOCK_MIN)
    {
        __shared__ float part[KERNELS_SUM_BLOCK];
        int tid = threadIdx.x;
        for (long long j = blockIdx.x; j < n_out; j += gridDim.x)
        {
            long long base = kernels_sum_kept_offset(p, j);
            float acc = 0.0f;
            for (long long k = tid; k < p.reduced_count; k += blockDim.x) acc += x[base + kernels_sum_reduced_offset(p, k)];
            float total = kernels_block_sum<KERNELS_SUM_BLOCK>(acc, part);
            if (tid == 0) y[j] = total;
        }
        return;
    }
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long j = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; j < n_out; j += stride)
    {
        long long base = kernels_sum_kept_offset(p, j);
        float acc = 0.0f;
        for (long long k = 0; k < p.reduced_count; ++k) acc += x[base + kernels_sum_reduced_offset(p, k)];
        y[j] = acc;
    }
}

extern "C" __global__ void elementwise_fill_u32(unsigned value, unsigned* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = value;
}

extern "C" __global__ void elementwise_fill_u64(unsigned long long value, unsigned long long* __restrict__ y,
                                                long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = value;
}

extern "C" __global__ void elementwise_copy_u32(const unsigned* __restrict__ x, unsigned* __restrict__ y,
                                                long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = x[i];
}

extern "C" __global__ void elementwise_copy_u64(const unsigned long long* __restrict__ x,
                                                unsigned long long* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = x[i];
}

// Casts: which = 0 f32→f64, 1 f64→f32, 2 i32→f32, 3 i32→f64.
extern "C" __global__ void elementwise_cast(int which, const void* __restrict__ x, void* __restrict__ y, long long n)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        switch (which)
        {
        case 0: static_cast<double*>(y)[i] = static_cast<const float*>(x)[i]; break;
        case 1: static_cast<float*>(y)[i] = static_cast<float>(static_cast<const double*>(x)[i]); break;
        case 2: static_cast<float*>(y)[i] = static_cast<float>(static_cast<const int*>(x)[i]); break;
        default: static_cast<double*>(y)[i] = static_cast<const int*>(x)[i]; break;
        }
    }
}

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
static const unsigned kElementwiseBlock = 256;

// Broadcast binary op; dims and strides hold rank (≤ 8) entries each.
extern "C" int kernels_elementwise_binary_f32(int op, int rank, const long long* dims, const long long* stride_a,
                                              const long long* stride_b, const float* a, const float* b, float* y,
                                              long long n, void* stream)
{
    if (n <= 0) return 0;
    if (rank < 1 || rank > KERNELS_MAX_RANK) return 1; // cudaErrorInvalidValue
    BroadcastParams p{};
    p.rank = rank;
    for (int d = 0; d < rank; ++d)
    {
        p.dims[d] = dims[d];
        p.stride_a[d] = stride_a[d];
        p.stride_b[d] = stride_b[d];
    }
    return KERNELS_LAUNCH(elementwise_binary_f32, dim3(kernels_grid_for(n, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, op, p, a, b, y, n);
}

extern "C" int kernels_elementwise_unary_f32(int op, const float* x, float* y, long long n, void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_unary_f32, dim3(kernels_grid_for(n, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, op, x, y, n);
}

extern "C" int kernels_elementwise_scalar_f32(int op, float s, const float* x, float* y, long long n, void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_scalar_f32, dim3(kernels_grid_for(n, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, op, s, x, y, n);
}

// kept_*: the output's axes with their input strides; reduced_*: the summed axes.
extern "C" int kernels_elementwise_sum_to_shape_f32(int kept_rank, const long long* kept_dims,
                                                    const long long* kept_stride, int reduced_rank,
                                                    const long long* reduced_dims, const long long* reduced_stride,
                                                    const float* x, float* y, long long n_out, void* stream)
{
    if (n_out <= 0) return 0;
    if (kept_rank < 0 || kept_rank > KERNELS_MAX_RANK || reduced_rank < 0 || reduced_rank > KERNELS_MAX_RANK)
        return 1; // cudaErrorInvalidValue
    SumToShapeParams p{};
    p.kept_rank = kept_rank;
    p.reduced_rank = reduced_rank;
    p.reduced_count = 1;
    for (int d = 0; d < kept_rank; ++d)
    {
        p.kept_dims[d] = kept_dims[d];
        p.kept_stride[d] = kept_stride[d];
    }
    for (int d = 0; d < reduced_rank; ++d)
    {
        p.reduced_dims[d] = reduced_dims[d];
        p.reduced_stride[d] = reduced_stride[d];
        p.reduced_count *= reduced_dims[d];
    }
    // A block per output from KERNELS_SUM_BLOCK_MIN summed elements (see the kernel).
    long long threads = p.reduced_count >= KERNELS_SUM_BLOCK_MIN ? n_out * KERNELS_SUM_BLOCK : n_out;
    return KERNELS_LAUNCH(elementwise_sum_to_shape_f32, dim3(kernels_grid_for(threads, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, p, x, y, n_out);
}

extern "C" int kernels_elementwise_fill_u32(unsigned value, unsigned* y, long long n, void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_fill_u32, dim3(kernels_grid_for(n, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, value, y, n);
}

extern "C" int kernels_elementwise_fill_u64(unsigned long long value, unsigned long long* y, long long n,
                                            void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_fill_u64, dim3(kernels_grid_for(n, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, value, y, n);
}

extern "C" int kernels_elementwise_copy_u32(const unsigned* x, unsigned* y, long long n, void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_copy_u32, dim3(kernels_grid_for(n, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, x, y, n);
}

extern "C" int kernels_elementwise_copy_u64(const unsigned long long* x, unsigned long long* y, long long n,
                                            void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_copy_u64, dim3(kernels_grid_for(n, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, x, y, n);
}

extern "C" int kernels_elementwise_cast(int which, const void* x, void* y, long long n, void* stream)
{
    if (n <= 0) return 0;
    return KERNELS_LAUNCH(elementwise_cast, dim3(kernels_grid_for(n, kElementwiseBlock)), dim3(kElementwiseBlock), 0, stream, which, x, y, n);
}

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
