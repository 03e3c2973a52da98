using System.Runtime.InteropServices;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Gemm;

/// <summary>GEMM through the system OpenBLAS (libopenblas.so.0) when the library loads; otherwise
/// (or for dtypes it lacks) the managed <see cref="GemmCpu"/>. Force the managed kernel with
/// KERNELS_IMPL=gemm=cpu.</summary>
[KernelImplementation("openblas", 10, DeviceKind.Cpu)]
public sealed unsafe class GemmOpenBlas : IGemm
{
    private readonly GemmCpu _managed = new();

    /// <summary>Calls inside OpenBLAS right now. Only one at a time goes there: its pthread build
    /// has one thread pool, and callers that already run in parallel (a conv splitting its work
    /// over threads) do better on the managed kernel than queued on that pool.</summary>
    private static int s_active;

    public void Gemm(in GemmShape s, double alpha, DeviceBuffer a, DeviceBuffer b, double beta, DeviceBuffer c)
    {
        GemmCpu.CheckExtents(s, a, b, c);
        if (!Native.Available || c.DType is not (DType.F32 or DType.F64))
        {
            _managed.Gemm(s, alpha, a, b, beta, c);
            return;
        }
        try
        {
            if (Interlocked.Increment(ref s_active) > 1)
            {
                _managed.Gemm(s, alpha, a, b, beta, c);
                return;
            }
            Native.SyncThreads();
            if (c.DType == DType.F32) Run(s, (float)alpha, CpuBuffer.Array<float>(a), CpuBuffer.Array<float>(b), (float)beta, CpuBuffer.Array<float>(c));
            else Run(s, alpha, CpuBuffer.Array<double>(a), CpuBuffer.Array<double>(b), beta, CpuBuffer.Array<double>(c));
        }
        finally { Interlocked.Decrement(ref s_active); }
    }

    /// <summary>True when libopenblas.so.0 was found and its cblas entry points resolved.</summary>
    public static bool Available => Native.Available;

    private static void Run(in GemmShape s, float alpha, float[] a, float[] b, float beta, float[] c)
    {
        if (s.M == 0 || s.N == 0) return;
        if (s.K == 0 || alpha == 0)
        {
            // BLAS would want lda ≥ 1; C = beta·C needs no A or B anyway.
            GemmCpu.ScaleC(s, beta, c);
            return;
        }
        fixed (float* pa = a, pb = b, pc = c)
            for (int bi = 0; bi < s.Batch; bi++)
                Native.Sgemm(RowMajor, s.TransA ? Trans : NoTrans, s.TransB ? Trans : NoTrans, s.M, s.N, s.K, alpha,
                    pa + s.OffsetA + bi * s.StrideA, s.LdA, pb + s.OffsetB + bi * s.StrideB, s.LdB, beta,
                    pc + s.OffsetC + bi * s.StrideC, s.LdC);
    }

    private static void Run(in GemmShape s, double alpha, double[] a, double[] b, double beta, double[] c)
    {
        if (s.M == 0 || s.N == 0) return;
        if (s.K == 0 || alpha == 0)
        {
            GemmCpu.ScaleC(s, beta, c);
            return;
        }
        fixed (double* pa = a, pb = b, pc = c)
            for (int bi = 0; bi < s.Batch; bi++)
                Native.Dgemm(RowMajor, s.TransA ? Trans : NoTrans, s.TransB ? Trans : NoTrans, s.M, s.N, s.K, alpha,
                    pa + s.OffsetA + bi * s.StrideA, s.LdA, pb + s.OffsetB + bi * s.StrideB, s.LdB, beta,
                    pc + s.OffsetC + bi * s.StrideC, s.LdC);
    }

    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    /// <summary>Resolved once; a missing library or symbol just leaves Available false.</summary>
    private static class Native
    {
        public static readonly bool Available;
        public static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;
        public static readonly delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void> Dgemm;
        private static readonly delegate* unmanaged<int, void> s_setThreads;
        private static int s_threads;

        static Native()
        {
            if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libopenblas.so.0", out var lib)) return;
            if (!NativeLibrary.TryGetExport(lib, "cblas_sgemm", out var sg) ||
                !NativeLibrary.TryGetExport(lib, "cblas_dgemm", out var dg)) return;
            Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sg;
            Dgemm = (delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)dg;
            if (NativeLibrary.TryGetExport(lib, "openblas_set_num_threads", out var st))
                s_setThreads = (delegate* unmanaged<int, void>)st;
            Available = true;
        }

        /// <summary>OpenBLAS keeps its own thread pool: size it like CpuParallel.Threads.</summary>
        public static void SyncThreads()
        {
            int want = Math.Max(1, CpuParallel.Threads);
            if (s_setThreads == null || Volatile.Read(ref s_threads) == want) return;
            s_setThreads(want);
            Volatile.Write(ref s_threads, want);
        }
    }
}
