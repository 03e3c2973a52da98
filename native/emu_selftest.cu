// Kernels that exercise every feature the emulation header provides, so the emu device can be
// trusted before real kernels depend on it (and, on a GPU, so both back ends can be compared).
// Every entry point takes its launch geometry from the caller: tests pick awkward shapes
// (block 96 or 100, partial last warps, grids that do not divide n).
#include "kernels/emu.h"

// Block sum: grid-stride per-thread sums, then a tree over static shared memory with
// __syncthreads; works for any block size up to 1024. out[b] = sum of the elements block b saw.
extern "C" __global__ void selftest_block_sum(const float* __restrict__ x, float* __restrict__ out, long long n)
{
    __shared__ float partial[1024];
    int t = threadIdx.x;
    float acc = 0.0f;
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + t; i < n; i += stride) acc += x[i];
    partial[t] = acc;
    __syncthreads();
    for (int active = blockDim.x; active > 1;)
    {
        int half = (active + 1) / 2;
        if (t < active - half) partial[t] += partial[t + half];
        __syncthreads();
        active = half;
    }
    if (t == 0) out[blockIdx.x] = partial[0];
}

// Warp sums over the existing lanes of each warp (the last warp of a block may be partial).
// warp_out[global warp] = sum by shfl_down on lane 0; thread_out[i] = the same sum seen by every
// lane: by an xor butterfly in full warps, by a shfl_sync broadcast in partial ones.
extern "C" __global__ void selftest_warp_sum(const float* __restrict__ x, float* __restrict__ warp_out,
                                             float* __restrict__ thread_out, long long n)
{
    int t = threadIdx.x, lane = t & 31;
    long long i = static_cast<long long>(blockIdx.x) * blockDim.x + t;
    float v = i < n ? x[i] : 0.0f;
    unsigned mask = __activemask();
    int lanes = __popc(mask);
    float down = v;
    for (int offset = 16; offset > 0; offset >>= 1)
    {
        float o = __shfl_down_sync(mask, down, offset);
        if (lane + offset < lanes) down += o;
    }
    float everyone;
    if (lanes == 32)
    {
        everyone = v;
        for (int m = 16; m > 0; m >>= 1) everyone += __shfl_xor_sync(mask, everyone, m);
    }
    else
    {
        everyone = __shfl_sync(mask, down, 0);
    }
    int warps_per_block = (blockDim.x + 31) / 32;
    if (lane == 0) warp_out[blockIdx.x * warps_per_block + (t >> 5)] = down;
    if (i < n) thread_out[i] = everyone;
}

// Votes in divergent warps: odd and even lanes vote at the same time with disjoint masks.
// pred = x[i] > 0 (false past n). Per thread: the ballot, any and all of its parity group.
extern "C" __global__ void selftest_vote(const float* __restrict__ x, unsigned* __restrict__ ballot_out,
                                         int* __restrict__ any_out, int* __restrict__ all_out, long long n)
{
    int t = threadIdx.x, lane = t & 31;
    long long i = static_cast<long long>(blockIdx.x) * blockDim.x + t;
    int pred = i < n && x[i] > 0.0f;
    unsigned live = __activemask();
    unsigned b;
    int any, all;
    if (lane & 1)
    {
        unsigned m = live & 0xAAAAAAAAu;
        b = __ballot_sync(m, pred);
        any = __any_sync(m, pred);
        all = __all_sync(m, pred);
    }
    else
    {
        unsigned m = live & 0x55555555u;
        b = __ballot_sync(m, pred);
        any = __any_sync(m, pred);
        all = __all_sync(m, pred);
    }
    if (i < n)
    {
        ballot_out[i] = b;
        any_out[i] = any;
        all_out[i] = all;
    }
}

// Float max by compare-and-swap on the bit pattern (the classic pattern CUDA code uses).
__device__ __forceinline__ void selftest_atomic_max_float(float* p, float v)
{
    int* ip = reinterpret_cast<int*>(p);
    int old = *ip;
    while (__int_as_float(old) < v)
    {
        int seen = atomicCAS(ip, old, __float_as_int(v));
        if (seen == old) break;
        old = seen;
    }
}

// Atomics from every thread: a float sum, a count of positives, an int max of floor(1000·x) and
// a float max through atomicCAS. The caller initialises the four results.
extern "C" __global__ void selftest_atomics(const float* __restrict__ x, long long n, float* sum, int* positives,
                                            int* imax, float* fmax_out)
{
    long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float v = x[i];
        atomicAdd(sum, v);
        if (v > 0.0f) atomicAdd(positives, 1);
        atomicMax(imax, static_cast<int>(floorf(v * 1000.0f)));
        selftest_atomic_max_float(fmax_out, v);
    }
}

// Dynamic shared memory with 2-D blocks: each block reverses its tile of blockDim.x·blockDim.y
// elements (slots past n hold -1). One block per tile, no grid-stride.
extern "C" __global__ void selftest_reverse(const float* __restrict__ x, float* __restrict__ out, long long n)
{
    KERNELS_DYNAMIC_SHARED(float, tile);
    int size = blockDim.x * blockDim.y;
    int t = threadIdx.y * blockDim.x + threadIdx.x;
    long long i = static_cast<long long>(blockIdx.x) * size + t;
    tile[t] = i < n ? x[i] : -1.0f;
    __syncthreads();
    if (i < n) out[i] = tile[size - 1 - t];
}

#if !defined(__CUDACC_RTC__)
extern "C" int kernels_selftest_block_sum(const float* x, float* out, long long n, unsigned grid, unsigned block,
                                          void* stream)
{
    return KERNELS_LAUNCH(selftest_block_sum, dim3(grid), dim3(block), 0, stream, x, out, n);
}

extern "C" int kernels_selftest_warp_sum(const float* x, float* warp_out, float* thread_out, long long n,
                                         unsigned grid, unsigned block, void* stream)
{
    return KERNELS_LAUNCH(selftest_warp_sum, dim3(grid), dim3(block), 0, stream, x, warp_out, thread_out, n);
}

extern "C" int kernels_selftest_vote(const float* x, unsigned* ballot_out, int* any_out, int* all_out, long long n,
                                     unsigned grid, unsigned block, void* stream)
{
    return KERNELS_LAUNCH(selftest_vote, dim3(grid), dim3(block), 0, stream, x, ballot_out, any_out, all_out, n);
}

extern "C" int kernels_selftest_atomics(const float* x, long long n, float* sum, int* positives, int* imax,
                                        float* fmax_out, unsigned grid, unsigned block, void* stream)
{
    return KERNELS_LAUNCH(selftest_atomics, dim3(grid), dim3(block), 0, stream, x, n, sum, positives, imax,
                          fmax_out);
}

extern "C" int kernels_selftest_reverse(const float* x, float* out, long long n, unsigned grid, unsigned block_x,
                                        unsigned block_y, void* stream)
{
    return KERNELS_LAUNCH(selftest_reverse, dim3(grid), dim3(block_x, block_y), sizeof(float) * block_x * block_y,
                          stream, x, out, n);
}
#endif

#if !defined(__CUDACC__)
// Emulator only: the message of the last failed launch on the calling thread ("" after success).
extern "C" const char* kernels_emu_last_error(void) { return kemu::tl_error; }
#endif
