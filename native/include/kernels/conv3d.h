// Shapes, options and device helpers of native/conv3d.cu and native/conv3d_tc.cu, shared by the
// kernels and their host wrappers (Conv3dParams is mirrored by the C# record struct in
// src/Kernels/Ops/Conv/NativeConv.Launch.cs: same field order, 22 ints, 88 bytes). A 1-D or 2-D convolution is passed as 3-D with the leading axes of size 1
// (kernel 1, stride 1, padding 0, dilation 1), so one set of kernels serves every rank.
#pragma once

struct Conv3dParams
{
    int n, cin, cout, groups;   // batch; channels (both divisible by groups)
    int id, ih, iw;             // input spatial size
    int od, oh, ow;             // output spatial size
    int kd, kh, kw;             // kernel
    int sd, sh, sw;             // stride
    int pd, ph, pw;             // padding (front)
    int dd, dh, dw;             // dilation
};

// Forward epilogue activation (act argument): not activation.cu's numbering.
#define CONV3D_ACT_NONE 0
#define CONV3D_ACT_RELU 1
#define CONV3D_ACT_LEAKY_RELU 2

// Tiles of the fp32 implicit-GEMM kernels: BM output rows × BN columns per block of 256 threads,
// BK of the reduction per shared-memory stage; each thread computes a 4×4 micro-tile and loads
// SLOTS elements of each operand per stage (A: step tid % BK of rows tid / BK + j·AROWS; B: step
// tid / BN + j·BSTEP of column tid % BN).
#define CONV3D_BM 64
#define CONV3D_BN 64
#define CONV3D_BK 16
#define CONV3D_THREADS 256
#define CONV3D_SLOTS (CONV3D_BM * CONV3D_BK / CONV3D_THREADS)
#define CONV3D_AROWS (CONV3D_THREADS / CONV3D_BK)
#define CONV3D_BSTEP (CONV3D_THREADS / CONV3D_BN)

// Tiles of the tensor-core forward (mma.sync m16n8k16 fp16 → fp32): 128 threads = 4 warps in a
// 2×2 arrangement of 32×32 warp tiles; the reduction goes 16 channels of one tap at a time.
#define CONV3D_TC_BM 64
#define CONV3D_TC_BN 64
#define CONV3D_TC_BK 16
#define CONV3D_TC_THREADS 128

// The batched transpose: 32×32 tiles, blocks of 32×8 threads, when both sides are at least 32;
// otherwise (few channels) the narrow form, a 1-D grid-stride loop of 256-thread blocks.
#define CONV3D_TILE 32
#define CONV3D_TILE_ROWS 8

// Device helpers of both modules (include after kernels/emu.h).
__device__ __forceinline__ float conv3d_epilogue(float v, int c, const float* __restrict__ bias,
                                                 const float* __restrict__ scale, const float* __restrict__ shift,
                                                 int act, float alpha)
{
    if (bias != nullptr) v += bias[c];
    if (scale != nullptr) v *= scale[c];
    if (shift != nullptr) v += shift[c];
    if (act == CONV3D_ACT_RELU) v = v > 0.0f ? v : 0.0f;
    else if (act == CONV3D_ACT_LEAKY_RELU) v = v > 0.0f ? v : alpha * v;
    return v;
}

// tap → (tz, ty, tx), the kernel offsets along d, h, w.
__device__ __forceinline__ void conv3d_tap(const Conv3dParams& p, int tap, int& tz, int& ty, int& tx)
{
    tx = tap % p.kw;
    int t = tap / p.kw;
    ty = t % p.kh;
    tz = t / p.kh;
}
