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
