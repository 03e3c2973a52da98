// The tensor-core forward and data gradient of the convolution (see native/conv3d.cu for the
// layouts, the passes and why the data is channels-last): mma.sync m16n8k16 with fp16 operands
// and fp32 accumulation, the reduction's channels per group a multiple of 16, sm_80 and later.
// Blocks of 128 threads (4 warps, 2×2 warp tiles of 32×32) over a 64×64 output tile; grid
// (⌈rows/64⌉, ⌈cols/64⌉, groups). The C# side launches them only behind the opt-in
// "native-tc" implementation (never run on a GPU yet). The emulator runs them with a software
// mma (below) so a test checks their tiling, gathers, fp16 splits and epilogue without a GPU.
#include "kernels/emu.h"
#include "kernels/conv3d.h"

// ---- tensor cores ------------------------------------------------------------------------------
// Row stride of the fp16 tiles in shared memory: 16 values + 8 of padding = 12 words, so the 8
// rows × 4 words a fragment load touches fall in 32 distinct banks.
#define CONV3D_TC_LD 24

#if defined(__CUDACC__)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define CONV3D_TC_BODY 1
__device__ __forceinline__ unsigned short conv3d_f2h(float v)
{
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    return h;
}

__device__ __forceinline__ float conv3d_h2f(unsigned short h)
{
    float v;
    asm("cvt.f32.f16 %0, %1;" : "=f"(v) : "h"(h));
    return v;
}

__device__ __forceinline__ void conv3d_mma(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2])
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

#define CONV3D_SMEM_ALIGN __align__(16)
__device__ __forceinline__ unsigned conv3d_ld32(const unsigned short* p) { return *reinterpret_cast<const unsigned*>(p); }

// Eight consecutive floats, 16-byte aligned, through the read-only path.
__device__ __forceinline__ void conv3d_load8(const float* __restrict__ p, float (&v)[8])
{
    float4 u = __ldg(reinterpret_cast<const float4*>(p));
    float4 w = __ldg(reinterpret_cast<const float4*>(p + 4));
    v[0] = u.x; v[1] = u.y; v[2] = u.z; v[3] = u.w;
    v[4] = w.x; v[5] = w.y; v[6] = w.z; v[7] = w.w;
}
#endif
#else
// The emulator: fp16 conversions in software (round to nearest even, subnormals, inf / NaN) and
// mma.sync m16n8k16 computed from the fragments the warp's lanes hold, gathered with shuffles,
// following the PTX ISA's fragment layout (A row-major 16×16: a0,a1 (g, 2t..2t+1), a2,a3 (g+8, ·),
// a4,a5 (g, 2t+8..), a6,a7 (g+8, 2t+8..); B 16×8 column: b0,b1 (k 2t..2t+1, n g), b2,b3 (k + 8);
// C: c0,c1 (g, 2t..2t+1), c2,c3 (g+8, ·); g = lane / 4, t = lane % 4, the lower k in the low
// half of each register). So the tensor-core kernel's tiling, loads, splits and epilogue run on
// emu; the layout itself is this reading of the ISA until a GPU run confirms it.
#define CONV3D_TC_BODY 1
static inline unsigned short conv3d_f2h(float f)
{
    unsigned x = std::bit_cast<unsigned>(f);
    unsigned sign = (x >> 16) & 0x8000u, mant = x & 0x7fffffu;
    int e = static_cast<int>((x >> 23) & 0xffu);
    if (e == 0xff) return static_cast<unsigned short>(sign | 0x7c00u | (mant != 0 ? 0x200u : 0u));
    int exp = e - 127 + 15;
    if (exp >= 31) return static_cast<unsigned short>(sign | 0x7c00u);
    if (exp <= 0)
    {
        if (exp < -10) return static_cast<unsigned short>(sign);
        mant |= 0x800000u;
        int shift = 14 - exp;
        unsigned h = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) ++h;
        return static_cast<unsigned short>(sign | h);
    }
    unsigned h = (static_cast<unsigned>(exp) << 10) | (mant >> 13), rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h; // a carry into the exponent is right
    return static_cast<unsigned short>(sign | h);
}

static inline float conv3d_h2f(unsigned short h)
{
    unsigned sign = (static_cast<unsigned>(h) & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0)
    {
        float v = std::ldexp(static_cast<float>(mant), -24);
        return sign != 0 ? -v : v;
    }
    if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline float conv3d_half_of(unsigned reg, int k) { return conv3d_h2f(static_cast<unsigned short>(reg >> (16 * (k & 1)))); }

static inline void conv3d_mma(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2])
{
    const int lane = static_cast<int>(threadIdx.x) & 31, g = lane >> 2, t = lane & 3;
    // A rows g and g + 8: register j of lane g·4 + t' holds k = 2t' + (j ≥ 2 ? 8 : 0) + {0, 1}.
    unsigned arow[4][4]; // [source t'][register]
    for (int tp = 0; tp < 4; ++tp)
        for (int j = 0; j < 4; ++j) arow[tp][j] = __shfl_sync(0xffffffffu, a[j], g * 4 + tp);
    // B columns 2t and 2t + 1: register j of lane n·4 + t' holds k = 2t' + 8j + {0, 1}.
    unsigned bcol[2][4][2]; // [column][source t'][register]
    for (int cn = 0; cn < 2; ++cn)
        for (int tp = 0; tp < 4; ++tp)
            for (int j = 0; j < 2; ++j) bcol[cn][tp][j] = __shfl_sync(0xffffffffu, b[j], (2 * t + cn) * 4 + tp);
    for (int e = 0; e < 4; ++e)
    {
        int upper = e >> 1, cn = e & 1;
        float sum = 0.0f;
        for (int k = 0; k < 16; ++k)
        {
            int tp = (k & 7) >> 1, hi = k >> 3;
            float av = conv3d_half_of(arow[tp][upper + 2 * hi], k);
            float bv = conv3d_half_of(bcol[cn][tp][hi], k);
            sum = std::fma(av, bv, sum);
        }
        c[e] += sum;
    }
}

#define CONV3D_SMEM_ALIGN
static inline unsigned conv3d_ld32(const unsigned short* p)
{
    unsigned v;
    std::memcpy(&v, p, sizeof v); // two halves, the lower index in the low bits (little-endian)
    return v;
}

static inline void conv3d_load8(const float* p, float (&v)[8])
{
    for (int i = 0; i < 8; ++i) v[i] = p[i];
}
#endif

#if defined(CONV3D_TC_BODY)
// Eight floats → fp16 (hi) and the fp16 of what hi missed (lo), into two shared rows.
__device__ __forceinline__ void conv3d_store_split(const float (&v)[8], unsigned short* hi, unsigned short* lo)
{
#pragma unroll
    for (int i = 0; i < 8; ++i)
    {
        unsigned short h = conv3d_f2h(v[i]);
        hi[i] = h;
        lo[i] = conv3d_f2h(v[i] - conv3d_h2f(h));
    }
}
#endif

#if defined(CONV3D_TC_BODY)
// The tensor-core implicit GEMM, for the forward (kData false: rows are output positions, the
// reduction runs over (tap, ci), B = wd [g][tap][co][ci]) and the data gradient (kData true: rows
// are input positions, dy gathered where a tap lands exactly on an output, reduction over
// (tap, co), B = wt [g][tap][ci][co]). The reduction's channels per tap (cr) must be a multiple of
// 16 (a 16-step never crosses a tap) and a / b 16-byte aligned. With split = 1 every operand is
// fp16 hi + fp16 lo and three products are accumulated (hi·lo + lo·hi, then hi·hi): about fp32
// accuracy at three times the tensor-core work; split = 0 is one fp16 product (cuDNN's fp16).
template <bool kData>
__device__ __forceinline__ void conv3d_tc_gemm(const Conv3dParams& p, const float* __restrict__ a,
                                               const float* __restrict__ b, const float* __restrict__ bias,
                                               const float* __restrict__ scale, const float* __restrict__ shift,
                                               int act, float alpha, int split, float* __restrict__ out)
{
    CONV3D_SMEM_ALIGN __shared__ unsigned short AsHi[CONV3D_TC_BM * CONV3D_TC_LD];
    CONV3D_SMEM_ALIGN __shared__ unsigned short AsLo[CONV3D_TC_BM * CONV3D_TC_LD];
    CONV3D_SMEM_ALIGN __shared__ unsigned short BsHi[CONV3D_TC_BN * CONV3D_TC_LD];
    CONV3D_SMEM_ALIGN __shared__ unsigned short BsLo[CONV3D_TC_BN * CONV3D_TC_LD];
    const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
    const int gid = lane >> 2, tig = lane & 3;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    const int cg = p.cin / p.groups, og = p.cout / p.groups, taps = p.kd * p.kh * p.kw;
    const int cr = kData ? og : cg, nc = kData ? cg : og;           // reduction channels, output columns
    const int rd = kData ? p.id : p.od, rh = kData ? p.ih : p.oh, rw = kData ? p.iw : p.ow; // row grid
    const int sd = kData ? p.od : p.id, sh = kData ? p.oh : p.ih, sw = kData ? p.ow : p.iw; // gathered grid
    const int srcC = kData ? p.cout : p.cin, outC = kData ? p.cin : p.cout;
    const long long M = static_cast<long long>(p.n) * rd * rh * rw;
    const int g = static_cast<int>(blockIdx.z);
    const long long m0 = static_cast<long long>(blockIdx.x) * CONV3D_TC_BM;
    const int n0 = static_cast<int>(blockIdx.y) * CONV3D_TC_BN;

    // Loads: thread → (row or column r = tid / 2, channels h·8 .. h·8 + 7 of the 16-step).
    const int r = tid >> 1, h = (tid & 1) * 8;
    const long long m = m0 + r;
    const bool aok = m < M;
    long long abase;
    int az, ay, ax;
    {
        long long mm = aok ? m : 0;
        int cx = static_cast<int>(mm % rw);
        long long t = mm / rw;
        int cy = static_cast<int>(t % rh);
        t /= rh;
        int cz = static_cast<int>(t % rd);
        abase = (t / rd) * sd;
        // Forward: the window's corner; data gradient: the position + padding (see the fp32 kernels).
        az = kData ? cz + p.pd : cz * p.sd - p.pd;
        ay = kData ? cy + p.ph : cy * p.sh - p.ph;
        ax = kData ? cx + p.pw : cx * p.sw - p.pw;
    }
    const bool bok = n0 + r < nc;
    const float* __restrict__ bg = b + (static_cast<long long>(g) * taps * nc + n0 + r) * cr + h;

    float acc[2][4][4] = {};
    for (int tap = 0; tap < taps; ++tap)
    {
        int tz, ty, tx;
        conv3d_tap(p, tap, tz, ty, tx);
        int z, yy, xx;
        bool inside;
        if (kData)
        {
            int nz = az - tz * p.dd, ny = ay - ty * p.dh, nx = ax - tx * p.dw;
            inside = aok && nz >= 0 && ny >= 0 && nx >= 0 && nz % p.sd == 0 && ny % p.sh == 0 && nx % p.sw == 0;
            z = nz / p.sd;
            yy = ny / p.sh;
            xx = nx / p.sw;
            inside = inside && z < sd && yy < sh && xx < sw;
        }
        else
        {
            z = az + tz * p.dd;
            yy = ay + ty * p.dh;
            xx = ax + tx * p.dw;
            inside = aok && static_cast<unsigned>(z) < static_cast<unsigned>(sd) &&
                     static_cast<unsigned>(yy) < static_cast<unsigned>(sh) &&
                     static_cast<unsigned>(xx) < static_cast<unsigned>(sw);
        }
        const float* __restrict__ arow = a + (((abase + z) * sh + yy) * sw + xx) * srcC + g * cr + h;
        const float* __restrict__ brow = bg + static_cast<long long>(tap) * nc * cr;
        for (int c0 = 0; c0 < cr; c0 += CONV3D_TC_BK)
        {
            float av[8] = {}, bv[8] = {};
            if (inside) conv3d_load8(arow + c0, av);
            if (bok) conv3d_load8(brow + c0, bv);
            conv3d_store_split(av, AsHi + r * CONV3D_TC_LD + h, AsLo + r * CONV3D_TC_LD + h);
            conv3d_store_split(bv, BsHi + r * CONV3D_TC_LD + h, BsLo + r * CONV3D_TC_LD + h);
            __syncthreads();

            unsigned aHi[2][4], aLo[2][4], bHi[4][2], bLo[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
            {
                int row = (wm + mi * 16 + gid) * CONV3D_TC_LD + tig * 2;
                aHi[mi][0] = conv3d_ld32(AsHi + row);
                aHi[mi][1] = conv3d_ld32(AsHi + row + 8 * CONV3D_TC_LD);
                aHi[mi][2] = conv3d_ld32(AsHi + row + 8);
                aHi[mi][3] = conv3d_ld32(AsHi + row + 8 * CONV3D_TC_LD + 8);
                aLo[mi][0] = conv3d_ld32(AsLo + row);
                aLo[mi][1] = conv3d_ld32(AsLo + row + 8 * CONV3D_TC_LD);
                aLo[mi][2] = conv3d_ld32(AsLo + row + 8);
                aLo[mi][3] = conv3d_ld32(AsLo + row + 8 * CONV3D_TC_LD + 8);
            }
#pragma unroll
            for (int ni = 0; ni < 4; ++ni)
            {
                int col = (wn + ni * 8 + gid) * CONV3D_TC_LD + tig * 2;
                bHi[ni][0] = conv3d_ld32(BsHi + col);
                bHi[ni][1] = conv3d_ld32(BsHi + col + 8);
                bLo[ni][0] = conv3d_ld32(BsLo + col);
                bLo[ni][1] = conv3d_ld32(BsLo + col + 8);
            }
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
#pragma unroll
                for (int ni = 0; ni < 4; ++ni)
                {
                    if (split)
                    {
                        // The small terms first, then the main one.
                        conv3d_mma(acc[mi][ni], aHi[mi], bLo[ni]);
                        conv3d_mma(acc[mi][ni], aLo[mi], bHi[ni]);
                    }
                    conv3d_mma(acc[mi][ni], aHi[mi], bHi[ni]);
                }
            __syncthreads();
        }
    }

#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int half = 0; half < 2; ++half)
        {
            long long row = m0 + wm + mi * 16 + gid + half * 8;
            if (row >= M) continue;
#pragma unroll
            for (int ni = 0; ni < 4; ++ni)
#pragma unroll
                for (int e = 0; e < 2; ++e)
                {
                    int col = n0 + wn + ni * 8 + tig * 2 + e;
                    if (col >= nc) continue;
                    int c = g * nc + col;
                    out[row * outC + c] = conv3d_epilogue(acc[mi][ni][half * 2 + e], c, bias, scale, shift, act, alpha);
                }
        }
}
#endif

// y (NDHWC) = act(epilogue(x (NDHWC) ⊛ wd)) on tensor cores; cg % 16 == 0.
extern "C" __global__ void __launch_bounds__(CONV3D_TC_THREADS)
    conv3d_tc_forward_f16(Conv3dParams p, const float* __restrict__ x, const float* __restrict__ wd,
                          const float* __restrict__ bias, const float* __restrict__ scale,
                          const float* __restrict__ shift, int act, float alpha, int split, float* __restrict__ y)
{
#if defined(CONV3D_TC_BODY)
    conv3d_tc_gemm<false>(p, x, wd, bias, scale, shift, act, alpha, split, y);
#else
    // Before sm_80 there is no m16n8k16 mma: the C# side never launches this kernel there.
    __trap();
#endif
}

// dx (NDHWC) = the transposed forward of dy (NDHWC) with wt on tensor cores, plus bias per input
// channel; og % 16 == 0.
extern "C" __global__ void __launch_bounds__(CONV3D_TC_THREADS)
    conv3d_tc_backward_data_f16(Conv3dParams p, const float* __restrict__ dy, const float* __restrict__ wt,
                                const float* __restrict__ bias, int split, float* __restrict__ dx)
{
#if defined(CONV3D_TC_BODY)
    conv3d_tc_gemm<true>(p, dy, wt, bias, nullptr, nullptr, CONV3D_ACT_NONE, 0.0f, split, dx);
#else
    __trap();
#endif
}

#if !defined(__CUDACC_RTC__)
static unsigned conv3d_tc_blocks(long long n, int tile)
{
    return static_cast<unsigned>((n + tile - 1) / tile);
}

// The tensor-core forward: cg % 16 == 0, x and wd 16-byte aligned (the caller checks). On emu the
// mma is emulated (slow: tests only).
extern "C" int kernels_conv3d_tc_forward_f16(const Conv3dParams* p, const float* x, const float* wd,
                                             const float* bias, const float* scale, const float* shift, int act,
                                             float alpha, int split, float* y, void* stream)
{
    long long m = static_cast<long long>(p->n) * p->od * p->oh * p->ow;
    int og = p->cout / p->groups;
    if (m <= 0 || og <= 0) return 0;
    dim3 grid(conv3d_tc_blocks(m, CONV3D_TC_BM), conv3d_tc_blocks(og, CONV3D_TC_BN), static_cast<unsigned>(p->groups));
    return KERNELS_LAUNCH(conv3d_tc_forward_f16, grid, dim3(CONV3D_TC_THREADS), 0, stream, *p, x, wd, bias, scale,
                          shift, act, alpha, split, y);
}

extern "C" int kernels_conv3d_tc_backward_data_f16(const Conv3dParams* p, const float* dy, const float* wt,
                                                   const float* bias, int split, float* dx, void* stream)
{
    long long m = static_cast<long long>(p->n) * p->id * p->ih * p->iw;
    int cg = p->cin / p->groups;
    if (m <= 0 || cg <= 0) return 0;
    dim3 grid(conv3d_tc_blocks(m, CONV3D_TC_BM), conv3d_tc_blocks(cg, CONV3D_TC_BN), static_cast<unsigned>(p->groups));
    return KERNELS_LAUNCH(conv3d_tc_backward_data_f16, grid, dim3(CONV3D_TC_THREADS), 0, stream, *p, dy, wt, bias,
                          split, dx);
}

#endif
