// One header, two compilers. Every native/*.cu includes it.
//  * Under nvcc / NVRTC (__CUDACC__ defined) it only defines the few KERNELS_* macros that the
//    sources use where CUDA syntax cannot be emulated (dynamic shared memory, launches).
//  * Under a host C++20 compiler (clang++-14 or g++-12, -x c++) it emulates the CUDA features the
//    kernels use, so the same sources build into libkernels_emu.so for the `emu` device:
//    blocks run one after another; a block's threads are OS threads from a reusable pool meeting
//    at a block-wide std::barrier; `__shared__` is a static local (one block at a time, one launch
//    at a time); warp shuffles / votes meet at a per-warp barrier keyed by the mask, so divergent
//    warps with disjoint masks do not deadlock; atomics go through std::atomic_ref.
// Launch geometry errors return the CUDA error numbers (9 = invalid configuration) so the C#
// side maps both back ends the same way. Tiny shapes only: this is a correctness tool.
#pragma once

#if defined(__CUDACC__)

// Dynamic shared memory: one untyped extern array per translation unit, viewed as T.
#define KERNELS_DYNAMIC_SHARED(T, name)                                                             \
    extern __shared__ __align__(16) unsigned char kernels_dynamic_smem_[];                          \
    T* name = reinterpret_cast<T*>(kernels_dynamic_smem_)

#if !defined(__CUDACC_RTC__)
// Host-side launch from an extern "C" wrapper: returns the cudaError_t of the launch.
#define KERNELS_LAUNCH(kernel, grid, block, smem, stream, ...)                                      \
    (kernel<<<(grid), (block), (smem), static_cast<cudaStream_t>(stream)>>>(__VA_ARGS__),           \
     static_cast<int>(cudaGetLastError()))
#endif

#else // host C++ emulation

#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
// Blocks of a grid run one after another and launches are serialised, so one static array per
// kernel is exactly one block's shared memory. `extern __shared__` cannot be emulated this way:
// write KERNELS_DYNAMIC_SHARED(T, name) instead (below; nvcc gets the extern array).
#define __shared__ static

struct dim3
{
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

inline thread_local dim3 threadIdx{0, 0, 0};
inline thread_local dim3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
constexpr int warpSize = 32;

namespace kemu {

constexpr int kInvalidConfiguration = 9; // cudaErrorInvalidConfiguration
constexpr int kLaunchFailure = 719;      // cudaErrorLaunchFailure (an exception escaped a kernel)

// Barrier for the lanes of one warp named by a mask. Each distinct mask is its own meeting point,
// so `if (lane < 16) shfl(0xffff, ...) else shfl(0xffff0000, ...)` works; lanes that have left
// the kernel (or do not exist in a partial last warp) are not waited for.
class WarpSync
{
public:
    void reset(unsigned live)
    {
        std::lock_guard lock(m_);
        live_ = live;
        groups_.clear();
    }

    void arrive_and_wait(unsigned mask)
    {
        std::unique_lock lock(m_);
        Group& g = groups_[mask];
        std::uint64_t gen = g.gen;
        if (++g.arrived >= std::popcount(mask & live_)) release(g);
        else cv_.wait(lock, [&] { return g.gen != gen; });
    }

    // A lane returned from the kernel: it no longer takes part in any warp operation.
    void leave(int lane)
    {
        std::lock_guard lock(m_);
        live_ &= ~(1u << lane);
        for (auto& [mask, g] : groups_)
            if (g.arrived > 0 && g.arrived >= std::popcount(mask & live_)) release(g);
    }

    unsigned live() const { return live_.load(); }

    std::uint64_t slot[32]{};
    unsigned char flag[32]{};

private:
    struct Group
    {
        int arrived = 0;
        std::uint64_t gen = 0;
    };

    void release(Group& g)
    {
        g.arrived = 0;
        ++g.gen;
        cv_.notify_all();
    }

    std::mutex m_;
    std::condition_variable cv_;
    std::atomic<unsigned> live_{0}; // read without the lock by shuffles and __activemask
    std::map<unsigned, Group> groups_;
};

struct Launch;

struct EndOfBlock
{
    Launch* launch;
    void operator()() noexcept;
};

// State of one running grid, shared by the pool threads that run it.
struct Launch
{
    std::function<void()> body;
    dim3 grid, block;
    int threads = 0;
    std::optional<std::barrier<>> block_barrier;          // __syncthreads
    std::optional<std::barrier<EndOfBlock>> end_of_block; // all threads done with a block
    std::vector<WarpSync> warps;
    std::unique_ptr<std::max_align_t[]> dynamic_smem;
    std::atomic<bool> failed{false};

    unsigned warp_live(int w) const
    {
        int lanes = std::min(32, threads - w * 32);
        return lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
    }

    void start_block()
    {
        block_barrier.emplace(threads);
        for (int w = 0; w < static_cast<int>(warps.size()); ++w) warps[w].reset(warp_live(w));
    }
};

inline void EndOfBlock::operator()() noexcept { launch->start_block(); }

inline thread_local Launch* tl_launch = nullptr;
inline thread_local int tl_linear = 0; // linear thread index within the block

inline int lane_id() { return tl_linear & 31; }
inline WarpSync& my_warp() { return tl_launch->warps[tl_linear >> 5]; }

// A pool of OS threads reused by every launch (never one thread per block). It grows to the
// largest block seen and lives until the process ends.
class Pool
{
public:
    static Pool& instance()
    {
        static Pool* pool = new Pool(); // never destroyed: workers may still be parked at exit
        return *pool;
    }

    void run(Launch& launch)
    {
        std::lock_guard serial(launch_mutex_); // one grid at a time (static __shared__)
        std::unique_lock lock(m_);
        while (static_cast<int>(workers_) < launch.threads)
        {
            std::thread(&Pool::worker, this, static_cast<int>(workers_)).detach();
            ++workers_;
        }
        job_ = &launch;
        remaining_ = launch.threads;
        ++generation_;
        start_.notify_all();
        done_.wait(lock, [&] { return remaining_ == 0; });
        job_ = nullptr;
    }

private:
    void worker(int index)
    {
        std::uint64_t seen = 0;
        for (;;)
        {
            Launch* job;
            {
                std::unique_lock lock(m_);
                start_.wait(lock, [&] { return generation_ != seen; });
                seen = generation_;
                if (job_ == nullptr || index >= job_->threads) continue; // woke after that grid ended
                job = job_;
            }
            run_blocks(*job, index);
            std::lock_guard lock(m_);
            if (--remaining_ == 0) done_.notify_one();
        }
    }

    static void run_blocks(Launch& l, int index)
    {
        tl_launch = &l;
        tl_linear = index;
        blockDim = l.block;
        gridDim = l.grid;
        threadIdx = dim3(index % l.block.x, (index / l.block.x) % l.block.y, index / (l.block.x * l.block.y));
        for (unsigned bz = 0; bz < l.grid.z; ++bz)
            for (unsigned by = 0; by < l.grid.y; ++by)
                for (unsigned bx = 0; bx < l.grid.x; ++bx)
                {
                    blockIdx = dim3(bx, by, bz);
                    try
                    {
                        l.body();
                    }
                    catch (...)
                    {
                        l.failed = true;
                    }
                    // Returning from the kernel: later barriers of this block stop waiting for us.
                    l.warps[index >> 5].leave(index & 31);
                    l.block_barrier->arrive_and_drop();
                    l.end_of_block->arrive_and_wait(); // its completion resets the barriers
                }
        tl_launch = nullptr;
    }

    std::mutex launch_mutex_;
    std::mutex m_;
    std::condition_variable start_, done_;
    unsigned workers_ = 0;
    std::uint64_t generation_ = 0;
    int remaining_ = 0;
    Launch* job_ = nullptr;
};

inline thread_local char tl_error[256] = "";

inline int set_error(int code, const char* kernel, const char* what, dim3 g, dim3 b)
{
    std::snprintf(tl_error, sizeof tl_error, "%s: %s (grid %u,%u,%u block %u,%u,%u)", kernel, what, g.x, g.y,
                  g.z, b.x, b.y, b.z);
    return code;
}

// Runs kernel(args...) over the grid; returns 0 or a CUDA error number (message: last_error()).
template <typename... KArgs, typename... Args>
int launch(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t dynamic_smem,
           Args&&... args)
{
    tl_error[0] = '\0';
    unsigned long long threads = 1ull * block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0)
        return set_error(kInvalidConfiguration, name, "zero grid or block dimension", grid, block);
    if (threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
        return set_error(kInvalidConfiguration, name, "more than 1024 threads per block (or block.z > 64)", grid,
                         block);
    if (grid.y > 65535 || grid.z > 65535)
        return set_error(kInvalidConfiguration, name, "grid.y or grid.z above 65535", grid, block);
    if (dynamic_smem > 227 * 1024)
        return set_error(kInvalidConfiguration, name, "more dynamic shared memory than a block may have", grid,
                         block);
    Launch l;
    l.body = [=] { kernel(args...); };
    l.grid = grid;
    l.block = block;
    l.threads = static_cast<int>(threads);
    l.warps = std::vector<WarpSync>((threads + 31) / 32);
    if (dynamic_smem > 0)
    {
        std::size_t words = (dynamic_smem + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
        l.dynamic_smem.reset(new std::max_align_t[words]);
        std::memset(l.dynamic_smem.get(), 0xff, words * sizeof(std::max_align_t)); // NaN: reads before writes show
    }
    l.end_of_block.emplace(l.threads, EndOfBlock{&l});
    l.start_block();
    Pool::instance().run(l);
    if (l.failed) return set_error(kLaunchFailure, name, "an exception escaped the kernel", grid, block);
    return 0;
}

inline void* dynamic_shared() { return tl_launch->dynamic_smem.get(); }

// Exchange through the warp's slots: write, meet, read, meet again (so no slot is overwritten
// before every lane of the group has read it).
template <typename T>
T exchange(unsigned mask, T v, int src)
{
    static_assert(sizeof(T) <= 8, "warp exchange of at most 8 bytes");
    WarpSync& w = my_warp();
    int lane = lane_id();
    std::memcpy(&w.slot[lane], &v, sizeof(T));
    w.arrive_and_wait(mask);
    T r = v;
    if (src >= 0 && src < 32 && (mask & w.live() & (1u << src))) std::memcpy(&r, &w.slot[src], sizeof(T));
    w.arrive_and_wait(mask);
    return r;
}

// Returns the votes of the group's lanes; members receives the lanes that voted (read while the
// group is still together: a lane that moves on may leave the kernel and change live()).
inline unsigned ballot(unsigned mask, bool pred, unsigned* members_out = nullptr)
{
    WarpSync& w = my_warp();
    w.flag[lane_id()] = pred ? 1 : 0;
    w.arrive_and_wait(mask);
    unsigned bits = 0, members = mask & w.live();
    for (int i = 0; i < 32; ++i)
        if ((members & (1u << i)) && w.flag[i]) bits |= 1u << i;
    if (members_out) *members_out = members;
    w.arrive_and_wait(mask);
    return bits;
}

} // namespace kemu

inline void __syncthreads() { kemu::tl_launch->block_barrier->arrive_and_wait(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { kemu::my_warp().arrive_and_wait(mask); }

template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    int lane = kemu::lane_id();
    return kemu::exchange(mask, v, (lane & ~(width - 1)) + (src & (width - 1)));
}

template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    int lane = kemu::lane_id(), src = lane ^ lane_mask;
    if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane; // outside the segment: own value
    return kemu::exchange(mask, v, src);
}

template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    int lane = kemu::lane_id();
    int src = (lane & (width - 1)) + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : lane;
    return kemu::exchange(mask, v, src);
}

template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    int lane = kemu::lane_id();
    int src = (lane & (width - 1)) >= static_cast<int>(delta) ? lane - static_cast<int>(delta) : lane;
    return kemu::exchange(mask, v, src);
}

inline unsigned __ballot_sync(unsigned mask, int pred) { return kemu::ballot(mask, pred != 0); }
inline int __any_sync(unsigned mask, int pred) { return kemu::ballot(mask, pred != 0) != 0; }
inline int __all_sync(unsigned mask, int pred)
{
    unsigned members = 0;
    return kemu::ballot(mask, pred != 0, &members) == members;
}
// The emulator's warps never diverge in time, so the active lanes are those that have not left the kernel.
inline unsigned __activemask() { return kemu::my_warp().live(); }
inline int __popc(unsigned v) { return std::popcount(v); }
inline int __ffs(int v) { return v == 0 ? 0 : std::countr_zero(static_cast<unsigned>(v)) + 1; }
inline int __clz(int v) { return std::countl_zero(static_cast<unsigned>(v)); }

// Atomics: CUDA returns the old value.
template <typename T>
T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <typename T>
T atomicSub(T* p, T v) { return std::atomic_ref<T>(*p).fetch_sub(v); }
template <typename T>
T atomicExch(T* p, T v) { return std::atomic_ref<T>(*p).exchange(v); }
template <typename T>
T atomicCAS(T* p, T compare, T v)
{
    std::atomic_ref<T>(*p).compare_exchange_strong(compare, v);
    return compare; // holds the old value whether or not the exchange happened
}
template <typename T>
T atomicMax(T* p, T v)
{
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (old < v && !a.compare_exchange_weak(old, v)) {}
    return old;
}
template <typename T>
T atomicMin(T* p, T v)
{
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (old > v && !a.compare_exchange_weak(old, v)) {}
    return old;
}

// Math intrinsics: the fast forms map to the accurate library functions on the CPU.
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __saturatef(float x) { return std::fmin(std::fmax(x, 0.0f), 1.0f); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __int_as_float(int v) { return std::bit_cast<float>(v); }
inline int __float_as_int(float v) { return std::bit_cast<int>(v); }
inline unsigned __float_as_uint(float v) { return std::bit_cast<unsigned>(v); }
inline float __uint_as_float(unsigned v) { return std::bit_cast<float>(v); }
template <typename T>
T __ldg(const T* p) { return *p; }
// CUDA's device min/max overloads.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
// expf, erff, tanhf, fmaxf ... come from the C library's <math.h> in the global namespace; the
// classification macros became std:: functions in <cmath>, CUDA has them global.
using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

#define KERNELS_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::kemu::dynamic_shared())
#define KERNELS_LAUNCH(kernel, grid, block, smem, stream, ...)                                      \
    (static_cast<void>(stream), ::kemu::launch(#kernel, kernel, (grid), (block), (smem), __VA_ARGS__))

#endif // __CUDACC__

// Shared by both back ends: a grid-stride loop's block count for n elements, capped. The emulator
// caps low because every block costs a round of barriers over OS threads.
#if defined(__CUDACC__)
#define KERNELS_MAX_BLOCKS 4096u
#else
#define KERNELS_MAX_BLOCKS 8u
#endif
#if !defined(__CUDACC_RTC__)
static inline unsigned kernels_grid_for(long long n, unsigned block)
{
    long long blocks = (n + block - 1) / block;
    if (blocks < 1) blocks = 1;
    return blocks > KERNELS_MAX_BLOCKS ? KERNELS_MAX_BLOCKS : static_cast<unsigned>(blocks);
}
#endif
