// Shapes and options of native/conv3d.cu, shared by the kernels and their host wrappers (and
// mirrored by the C# struct in src/Kernels/Ops/Conv/NativeConv.Params.cs: same field order,
// 22 ints, 88 bytes). A 1-D or 2-D convolution is passed as 3-D with the leading axes of size 1
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
