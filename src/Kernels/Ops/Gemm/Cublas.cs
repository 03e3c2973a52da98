using Kernels.Bindings.Cublas;
using Kernels.Ilgpu;
using Kernels.Registry;

namespace Kernels.Ops.Gemm;

/// <summary>cuBLAS SGEMM on the cuda device's stream. cuBLAS is column-major; a row-major M×N
/// matrix with row length ld is, to cuBLAS, its N×M transpose with the same ld. So row-major
/// C = op(A)·op(B) is computed as column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: B's buffer goes first with
/// B's transpose flag, A's second with A's, and cuBLAS's (m, n) are our (N, M).</summary>
[KernelImplementation("cublas", 30, DeviceKind.Cuda)]
public sealed class GemmCublas(Device device) : IGemm
{
    public void Gemm(in GemmShape s, double alpha, DeviceBuffer a, DeviceBuffer b, double beta, DeviceBuffer c)
    {
        GemmCpu.CheckExtents(s, a, b, c);
        IlgpuLaunch.RequireF32("Gemm", a, b, c);
        if (s.M == 0 || s.N == 0 || s.Batch == 0) return;
        var cuda = (CudaDevice)device;
        var bufC = CudaBuffer.Of(c, cuda);
        // cuBLAS insists on ld ≥ max(1, rows of the stored column-major matrix) even when K = 0, where
        // it reads neither operand; the default leading dimensions can be K = 0 then.
        int lda = Math.Max(1, s.LdA), ldb = Math.Max(1, s.LdB);
        ulong pa = s.K == 0 ? bufC.Pointer : CudaBuffer.Of(a, cuda).Pointer + (ulong)s.OffsetA * sizeof(float);
        ulong pb = s.K == 0 ? bufC.Pointer : CudaBuffer.Of(b, cuda).Pointer + (ulong)s.OffsetB * sizeof(float);
        ulong pc = bufC.Pointer + (ulong)s.OffsetC * sizeof(float);
        var opA = s.TransA ? CublasOperation.Transpose : CublasOperation.None;
        var opB = s.TransB ? CublasOperation.Transpose : CublasOperation.None;
        var handle = cuda.Cublas;
        using var profiled = KernelProfiler.Call(device, ProfiledKind.Cublas, s, static s =>
            $"{(s.Batch == 1 ? "cublasSgemm" : "cublasSgemmStridedBatched")} {(s.TransA ? 'T' : 'N')}{(s.TransB ? 'T' : 'N')} m{s.M} n{s.N} k{s.K}{(s.Batch == 1 ? "" : $" batch {s.Batch}")}");
        if (s.Batch == 1)
            Cublas.Sgemm(handle, opB, opA, s.N, s.M, s.K, (float)alpha, pb, ldb, pa, lda, (float)beta, pc, s.LdC);
        else
            Cublas.SgemmStridedBatched(handle, opB, opA, s.N, s.M, s.K, (float)alpha, pb, ldb, s.StrideB, pa, lda, s.StrideA,
                (float)beta, pc, s.LdC, s.StrideC, s.Batch);
    }
}
