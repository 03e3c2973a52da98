// A block-wide sum through shared memory in a fixed tree order (deterministic), shared by the
// kernels that reduce with one block per output or per partial. Every thread of the block must
// call it (it has barriers); Block is blockDim.x, a power of two; sh holds Block elements. Every
// thread gets the total; sh may be reused as soon as it returns.
#pragma once
#include "kernels/emu.h"

template <int Block, typename T>
__device__ __forceinline__ T kernels_block_sum(T v, T* sh)
{
    const int tid = static_cast<int>(threadIdx.x);
    sh[tid] = v;
    __syncthreads();
    for (int half = Block / 2; half > 0; half >>= 1)
    {
        if (tid < half) sh[tid] += sh[tid + half];
        __syncthreads();
    }
    T total = sh[0];
    __syncthreads(); // sh may be reused by the caller's next reduction
    return total;
}
