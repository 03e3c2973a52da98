using Kernels.Registry;

namespace Kernels.Ops.Gemm;

/// <summary>Row-major C = alpha·op(A)·op(B) + beta·C, repeated Batch times.
/// op(A) is M×K (A stored K×M when TransA), op(B) is K×N (B stored N×K when TransB).
/// Leading dimensions are the row lengths as stored; offsets and batch strides are in elements,
/// so a caller can address a slice of a larger buffer (a group of a convolution, one image).</summary>
public readonly record struct GemmShape(
    int M, int N, int K,
    bool TransA = false, bool TransB = false,
    int Lda = 0, int Ldb = 0, int Ldc = 0,
    long OffsetA = 0, long OffsetB = 0, long OffsetC = 0,
    int Batch = 1, long StrideA = 0, long StrideB = 0, long StrideC = 0)
{
    /// <summary>Leading dimensions with the contiguous defaults filled in.</summary>
    public int LdA => Lda > 0 ? Lda : TransA ? M : K;
    public int LdB => Ldb > 0 ? Ldb : TransB ? K : N;
    public int LdC => Ldc > 0 ? Ldc : N;

    public double Flops => 2.0 * M * N * K * Batch;

    /// <summary>Elements each operand must hold for this shape.</summary>
    public long NeededA => OffsetA + (Batch - 1) * StrideA + (long)((TransA ? K : M) - 1) * LdA + (TransA ? M : K);
    public long NeededB => OffsetB + (Batch - 1) * StrideB + (long)((TransB ? N : K) - 1) * LdB + (TransB ? K : N);
    public long NeededC => OffsetC + (Batch - 1) * StrideC + (long)(M - 1) * LdC + N;
}

public interface IGemm : IKernelFamily
{
    void Gemm(in GemmShape shape, double alpha, DeviceBuffer a, DeviceBuffer b, double beta, DeviceBuffer c);
}
