using System.Numerics;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Gemm;

/// <summary>CPU GEMM: float32 runs the packed, blocked SIMD kernel (<see cref="Sgemm"/>) where FMA
/// is available; float64 (gradient checks) and machines without FMA use the reference loops.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class GemmCpu : IGemm
{
    public void Gemm(in GemmShape s, double alpha, DeviceBuffer a, DeviceBuffer b, double beta, DeviceBuffer c)
    {
        CheckExtents(s, a, b, c);
        switch (c.DType)
        {
            case DType.F32 when Sgemm.Supported && !ForceReference:
                Sgemm.Run(s, (float)alpha, CpuBuffer.Array<float>(a), CpuBuffer.Array<float>(b), (float)beta, CpuBuffer.Array<float>(c));
                break;
            case DType.F32: Reference(s, (float)alpha, CpuBuffer.Array<float>(a), CpuBuffer.Array<float>(b), (float)beta, CpuBuffer.Array<float>(c)); break;
            case DType.F64: Reference(s, alpha, CpuBuffer.Array<double>(a), CpuBuffer.Array<double>(b), beta, CpuBuffer.Array<double>(c)); break;
            default: throw new NotSupportedException($"Gemm: dtype {c.DType.Name()} is not supported on the cpu");
        }
    }

    /// <summary>The packed kernel and OpenBLAS use raw pointers: a caller's wrong shape must fail
    /// here, not write past a buffer. O(1).</summary>
    internal static void CheckExtents(in GemmShape s, DeviceBuffer a, DeviceBuffer b, DeviceBuffer c)
    {
        if (s.M < 0 || s.N < 0 || s.K < 0 || s.Batch < 0)
            throw new ArgumentException($"Gemm: negative size in {s}");
        if (s.M == 0 || s.N == 0 || s.Batch == 0) return;
        Check.SameDType("Gemm", "a", c.DType, a.DType);
        Check.SameDType("Gemm", "b", c.DType, b.DType);
        Check.Length("Gemm", "c", c, s.NeededC);
        if (s.K == 0) return;
        Check.Length("Gemm", "a", a, s.NeededA);
        Check.Length("Gemm", "b", b, s.NeededB);
    }

    /// <summary>C = beta·C (K = 0 or alpha = 0): BLAS reads neither A nor B then; beta = 0 writes
    /// zeros even over NaN.</summary>
    internal static void ScaleC<T>(in GemmShape s, T beta, T[] c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int bi = 0; bi < s.Batch; bi++)
            for (int i = 0; i < s.M; i++)
            {
                var row = c.AsSpan((int)(s.OffsetC + bi * s.StrideC + (long)i * s.LdC), s.N);
                if (beta == T.Zero) row.Clear();
                else if (beta != T.One) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
            }
    }

    /// <summary>Tests and benchmarks set this to run float32 through the reference loops.</summary>
    internal static bool ForceReference;

    /// <summary>The naive GEMM the fast paths are tested against (rows in parallel, i-k-j loops).</summary>
    internal static void Reference<T>(GemmShape s, T alpha, T[] a, T[] b, T beta, T[] c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = s.M, n = s.N, k = s.K, lda = s.LdA, ldb = s.LdB, ldc = s.LdC;
        CpuParallel.For((long)s.Batch * m, (long)n * k, (r0, r1) =>
        {
            var acc = new T[n];
            for (long r = r0; r < r1; r++)
            {
                int bi = (int)(r / m), i = (int)(r % m);
                long ao = s.OffsetA + bi * s.StrideA, bo = s.OffsetB + bi * s.StrideB, co = s.OffsetC + bi * s.StrideC;
                Array.Clear(acc);
                for (int p = 0; p < k; p++)
                {
                    T av = s.TransA ? a[ao + (long)p * lda + i] : a[ao + (long)i * lda + p];
                    if (s.TransB)
                        for (int j = 0; j < n; j++) acc[j] += av * b[bo + (long)j * ldb + p];
                    else
                    {
                        long row = bo + (long)p * ldb;
                        for (int j = 0; j < n; j++) acc[j] += av * b[row + j];
                    }
                }
                long crow = co + (long)i * ldc;
                for (int j = 0; j < n; j++)
                    c[crow + j] = beta == T.Zero ? alpha * acc[j] : alpha * acc[j] + beta * c[crow + j];
            }
        });
    }
}
