using ILGPU;
using Kernels.Bindings.Cuda;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Gemm;

/// <summary>ILGPU SGEMM: 64×64 tiles of C per group of 256 threads, each thread accumulating a
/// 4×4 block (rows ty + 16i, columns tx + 16j, so loads and stores of a warp are coalesced), K
/// walked in slices of 16 staged in shared memory. Ragged edges load zeros and skip stores;
/// transposes, leading dimensions, offsets and batch strides are handled in the index math.</summary>
[KernelImplementation("ilgpu", 10, DeviceKind.IlgpuCpu, DeviceKind.Cuda)]
public sealed class GemmIlgpu(Device device) : IGemm
{
    private const int Tile = 64, Slice = 16, Threads = 256;

    // Shared tiles are [Slice][Tile + 1]: the padding column spreads the transposing stores over banks.
    private const int Pitch = Tile + 1;

    /// <summary>Batch entries beyond this run in a loop over grid.Z (the CUDA limit is 65535).</summary>
    private const int MaxGridZ = 65535;

    private static readonly IlgpuKernel s_gemm = new(GemmKernel);

    public void Gemm(in GemmShape s, double alpha, DeviceBuffer a, DeviceBuffer b, double beta, DeviceBuffer c)
    {
        GemmCpu.CheckExtents(s, a, b, c);
        IlgpuLaunch.RequireF32("Gemm", a, b, c);
        if (s.M == 0 || s.N == 0 || s.Batch == 0) return;
        // alpha = 0: BLAS reads neither A nor B (their NaNs must not reach C); K = 0 does exactly that.
        int k = alpha == 0 ? 0 : s.K;
        var grid = new Dim3((uint)((s.N + Tile - 1) / Tile), (uint)((s.M + Tile - 1) / Tile), (uint)Math.Min(s.Batch, MaxGridZ));
        s_gemm.Launch(device, grid, new Dim3(Threads), a, b, c, s.M, s.N, k, s.TransA ? 1 : 0, s.TransB ? 1 : 0,
            s.LdA, s.LdB, s.LdC, s.OffsetA, s.OffsetB, s.OffsetC, s.Batch, s.StrideA, s.StrideB, s.StrideC,
            (float)alpha, (float)beta);
    }

    private static void GemmKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k,
        int transA, int transB, int lda, int ldb, int ldc, long offA, long offB, long offC, int batch,
        long strideA, long strideB, long strideC, float alpha, float beta)
    {
        var sa = SharedMemory.Allocate<float>(Slice * Pitch); // sa[kk * Pitch + row]
        var sb = SharedMemory.Allocate<float>(Slice * Pitch); // sb[kk * Pitch + col]
        int t = Group.IdxX;
        int tx = t % 16, ty = t / 16;
        int row0 = Grid.IdxY * Tile, col0 = Grid.IdxX * Tile;

        // The batch loop is uniform across the group, so every thread reaches every barrier.
        for (int bi = Grid.IdxZ; bi < batch; bi += Grid.DimZ)
        {
            long ab = offA + bi * strideA, bb = offB + bi * strideB, cb = offC + bi * strideC;
            float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
            float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
            for (int k0 = 0; k0 < k; k0 += Slice)
            {
                // Each thread loads 4 of the 64×16 A elements and 4 of the 16×64 B elements, walking
                // the stored contiguous axis with consecutive threads.
                for (int l = 0; l < 4; l++)
                {
                    int e = t + l * Threads;
                    int r, kk;
                    if (transA != 0) { r = e % Tile; kk = e / Tile; } // A stored K×M: M contiguous
                    else { kk = e % Slice; r = e / Slice; }         // A stored M×K: K contiguous
                    int gr = row0 + r, gk = k0 + kk;
                    float av = 0;
                    if (gr < m && gk < k)
                        av = a[ab + (transA != 0 ? (long)gk * lda + gr : (long)gr * lda + gk)];
                    sa[kk * Pitch + r] = av;

                    int cc;
                    if (transB != 0) { kk = e % Slice; cc = e / Slice; } // B stored N×K: K contiguous
                    else { cc = e % Tile; kk = e / Tile; }             // B stored K×N: N contiguous
                    int gc = col0 + cc;
                    gk = k0 + kk;
                    float bv = 0;
                    if (gc < n && gk < k)
                        bv = b[bb + (transB != 0 ? (long)gc * ldb + gk : (long)gk * ldb + gc)];
                    sb[kk * Pitch + cc] = bv;
                }
                Group.Barrier();
                for (int kk = 0; kk < Slice; kk++)
                {
                    int ra = kk * Pitch + ty, rb = kk * Pitch + tx;
                    float a0 = sa[ra], a1 = sa[ra + 16], a2 = sa[ra + 32], a3 = sa[ra + 48];
                    float b0 = sb[rb], b1 = sb[rb + 16], b2 = sb[rb + 32], b3 = sb[rb + 48];
                    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
                }
                Group.Barrier();
            }
            int i0 = row0 + ty, j0 = col0 + tx;
            Store(c, cb, ldc, m, n, i0, j0, alpha, beta, c00, c01, c02, c03);
            Store(c, cb, ldc, m, n, i0 + 16, j0, alpha, beta, c10, c11, c12, c13);
            Store(c, cb, ldc, m, n, i0 + 32, j0, alpha, beta, c20, c21, c22, c23);
            Store(c, cb, ldc, m, n, i0 + 48, j0, alpha, beta, c30, c31, c32, c33);
        }
    }

    /// <summary>One row of a thread's 4×4 block (columns j, j+16, j+32, j+48). beta = 0 never reads
    /// C, so NaN in an output buffer is overwritten as BLAS does.</summary>
    private static void Store(ArrayView<float> c, long cb, int ldc, int m, int n, int i, int j, float alpha, float beta,
        float v0, float v1, float v2, float v3)
    {
        if (i >= m) return;
        long row = cb + (long)i * ldc;
        StoreOne(c, row, n, j, alpha, beta, v0);
        StoreOne(c, row, n, j + 16, alpha, beta, v1);
        StoreOne(c, row, n, j + 32, alpha, beta, v2);
        StoreOne(c, row, n, j + 48, alpha, beta, v3);
    }

    private static void StoreOne(ArrayView<float> c, long row, int n, int j, float alpha, float beta, float v)
    {
        if (j >= n) return;
        c[row + j] = beta == 0 ? alpha * v : alpha * v + beta * c[row + j];
    }
}
