using System.Runtime.Intrinsics;
using Kernels.Nets;
using Kernels.Ops.Gemm;
using Kernels.Tests.Support;

namespace Kernels.Tests.Gemm;

/// <summary>The CPU GEMM on every path (AVX-512 kernel, forced 256-bit kernel, reference loops,
/// float64) against a plain dot-product loop written here, on awkward shapes, padded leading
/// dimensions, offsets, batch strides, all transpose combinations and alpha/beta values.</summary>
public class GemmTests
{
    public enum Path { Wide512, Forced256, Reference, F64, OpenBlas, OpenBlasF64 }

    private static readonly Path[] AllPaths =
        [Path.Wide512, Path.Forced256, Path.Reference, Path.F64, Path.OpenBlas, Path.OpenBlasF64];

    private static readonly (int M, int N, int K)[] Sizes =
        [(1, 1, 1), (7, 13, 5), (65, 33, 129), (200, 300, 17), (6, 32, 3), (13, 47, 260)];

    /// <summary>One test configuration: shape, padding of the leading dims, offsets and batch.</summary>
    private readonly record struct Case(int M, int N, int K, bool TA, bool TB, double Alpha, double Beta,
        int PadA = 0, int PadB = 0, int PadC = 0, long OffA = 0, long OffB = 0, long OffC = 0, int Batch = 1,
        bool PoisonC = false);

    [TestCaseSource(nameof(AllPaths))]
    public void AwkwardSizesAllTransposes(Path path)
    {
        foreach (var (m, n, k) in Sizes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    Run(path, new Case(m, n, k, ta, tb, 1, 0));
    }

    [TestCaseSource(nameof(AllPaths))]
    public void AlphaBetaAndNaNPoisonedC(Path path)
    {
        foreach (var (alpha, beta) in new[] { (1.0, 1.0), (0.5, -2.0), (-1.5, 0.0), (2.0, 0.25) })
        {
            Run(path, new Case(65, 33, 129, false, true, alpha, beta));
            Run(path, new Case(7, 13, 5, true, false, alpha, beta, PadC: 3));
        }
        // beta = 0 must overwrite C without reading it: NaN there may not leak into the result.
        foreach (bool ta in new[] { false, true })
            Run(path, new Case(65, 70, 300, ta, !ta, 1.25, 0, PoisonC: true));
        Run(path, new Case(1, 1, 1, false, false, 1, 0, PoisonC: true));
    }

    [TestCaseSource(nameof(AllPaths))]
    public void BatchWithOffsetsStridesAndPaddedLeadingDims(Path path)
    {
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                Run(path, new Case(17, 41, 23, ta, tb, 1, 0, PadA: 3, PadB: 5, PadC: 2, OffA: 7, OffB: 11, OffC: 5, Batch: 3));
                Run(path, new Case(9, 35, 70, ta, tb, -0.5, 1.5, PadA: 1, PadB: 0, PadC: 4, OffA: 2, OffB: 0, OffC: 9, Batch: 3));
            }
    }

    [TestCaseSource(nameof(AllPaths))]
    public void ZeroDepthScalesC(Path path)
    {
        // K = 0: C = beta·C, and beta = 0 clears C even where it held NaN.
        Run(path, new Case(5, 9, 0, false, false, 1, 0.5));
        Run(path, new Case(5, 9, 0, true, true, 1, 0, PoisonC: true));
        Run(path, new Case(5, 9, 0, false, true, 1, 1, Batch: 2));
    }

    [TestCaseSource(nameof(AllPaths))]
    public void LargerThanTheCacheBlocksAndThreaded(Path path)
    {
        // Crosses the KC, MC and NC block edges and is large enough to run on several threads.
        Run(path, new Case(150, 1100, 300, false, false, 1, 0));
        Run(path, new Case(203, 530, 280, true, true, 0.75, 0.5));
        Run(path, new Case(40, 20, 33, false, false, 1, 0, Batch: 5, PadA: 1));
        // Batch ≥ threads and enough work: one whole product per task.
        Run(path, new Case(70, 90, 250, false, true, 1, 0.5, Batch: 3, PadB: 2, OffC: 1));
    }

    [Test]
    public void SmallBlockSizesCoverManyBlockEdges()
    {
        // Shrunken blocks make every loop of the blocked kernel take several trips on small shapes.
        int kc = Sgemm.KC, mc = Sgemm.MC, nc = Sgemm.NC;
        try
        {
            Sgemm.KC = 7; Sgemm.MC = 12; Sgemm.NC = 64;
            foreach (var p in new[] { Path.Wide512, Path.Forced256 })
            {
                if (p == Path.Wide512 && !Vector512.IsHardwareAccelerated) continue;
                Run(p, new Case(31, 150, 40, false, true, 1.5, 0.5, PadA: 2, OffC: 3, Batch: 2));
                Run(p, new Case(31, 150, 40, true, false, 1, 0, PoisonC: true));
                Run(p, new Case(300, 200, 45, false, false, 1, 0));  // threaded, many row blocks
            }
        }
        finally { (Sgemm.KC, Sgemm.MC, Sgemm.NC) = (kc, mc, nc); }
    }

    [Test]
    public void ShortBuffersAreRejected()
    {
        using var a = Tensor.Zeros([6 * 5]);
        using var b = Tensor.Zeros([5 * 7]);
        using var c = Tensor.Zeros([6 * 7]);
        foreach (IGemm gemm in new IGemm[] { new GemmCpu(), new GemmOpenBlas() })
        {
            Assert.Throws<ArgumentException>(() => gemm.Gemm(new GemmShape(6, 7, 6), 1, a.Buffer, b.Buffer, 0, c.Buffer));
            Assert.Throws<ArgumentException>(() => gemm.Gemm(new GemmShape(6, 7, 5, Ldc: 8), 1, a.Buffer, b.Buffer, 0, c.Buffer));
            Assert.Throws<ArgumentException>(() => gemm.Gemm(new GemmShape(6, 7, 5, Batch: 2, StrideA: 30), 1, a.Buffer, b.Buffer, 0, c.Buffer));
            Assert.DoesNotThrow(() => gemm.Gemm(new GemmShape(6, 7, 5), 1, a.Buffer, b.Buffer, 0, c.Buffer));
        }
    }

    private static void Run(Path path, Case t)
    {
        if (path == Path.Wide512)
            Assume.That(Vector512.IsHardwareAccelerated && Sgemm.Supported, "this machine has no AVX-512 kernel path");
        if (path == Path.Forced256)
            Assume.That(Sgemm.Supported, "this machine has no FMA kernel path");
        bool blas = path is Path.OpenBlas or Path.OpenBlasF64;
        if (blas)
            Assume.That(GemmOpenBlas.Available, "libopenblas.so.0 is not installed here");
        int lda = (t.TA ? t.M : t.K) + t.PadA, ldb = (t.TB ? t.K : t.N) + t.PadB, ldc = t.N + t.PadC;
        long matA = (long)(t.TA ? t.K : t.M) * lda, matB = (long)(t.TB ? t.N : t.K) * ldb, matC = (long)t.M * ldc;
        // Batch strides leave a gap between entries so that a wrong stride reads the wrong values.
        long sa = matA + 3, sb = matB + 1, sc = matC + 2;
        var s = new GemmShape(t.M, t.N, t.K, t.TA, t.TB, lda, ldb, ldc, t.OffA, t.OffB, t.OffC, t.Batch, sa, sb, sc);
        var rng = new Rng((ulong)(t.M * 131 + t.N * 17 + t.K + (t.TA ? 7 : 0) + (t.TB ? 3 : 0)));
        var a = new double[t.OffA + sa * t.Batch + 1];
        var b = new double[t.OffB + sb * t.Batch + 1];
        var c = new double[t.OffC + sc * t.Batch + 1];
        rng.FillUniform(a, -1, 1);
        rng.FillUniform(b, -1, 1);
        rng.FillUniform(c, -1, 1);
        if (t.PoisonC) Array.Fill(c, double.NaN);
        var dtype = path is Path.F64 or Path.OpenBlasF64 ? DType.F64 : DType.F32;
        if (dtype == DType.F32)
        {
            // Expected values from the float32-rounded inputs, so only accumulation error remains.
            Round(a); Round(b); Round(c);
        }
        var expected = Naive(s, t.Alpha, a, b, t.Beta, c);

        using var ta = Tensor.FromHost(a, [a.Length], dtype);
        using var tb = Tensor.FromHost(b, [b.Length], dtype);
        using var tc = Tensor.FromHost(c, [c.Length], dtype);
        // Implementations are created directly: the registry would pick OpenBLAS where present.
        IGemm gemm = blas ? new GemmOpenBlas() : new GemmCpu();
        bool force256 = Sgemm.ForceVector256, forceRef = GemmCpu.ForceReference;
        try
        {
            Sgemm.ForceVector256 = path == Path.Forced256;
            GemmCpu.ForceReference = path == Path.Reference;
            gemm.Gemm(s, t.Alpha, ta.Buffer, tb.Buffer, t.Beta, tc.Buffer);
        }
        finally { (Sgemm.ForceVector256, GemmCpu.ForceReference) = (force256, forceRef); }
        double tol = dtype == DType.F32 ? 2e-6 * (t.K + 10) : 1e-12 * (t.K + 10);
        Approx.Equal(expected, tc.ToDoubles(), tol, tol, $"{path} {t}");
    }

    private static void Round(double[] x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (float)x[i];
    }

    /// <summary>One dot product per element of C, straight from the definition; every element of
    /// C that the shape does not address keeps its value, so stray writes show up too.</summary>
    private static double[] Naive(GemmShape s, double alpha, double[] a, double[] b, double beta, double[] c)
    {
        var r = (double[])c.Clone();
        for (int bi = 0; bi < s.Batch; bi++)
            for (int i = 0; i < s.M; i++)
                for (int j = 0; j < s.N; j++)
                {
                    double dot = 0;
                    for (int p = 0; p < s.K; p++)
                    {
                        double av = s.TransA ? a[s.OffsetA + bi * s.StrideA + (long)p * s.LdA + i] : a[s.OffsetA + bi * s.StrideA + (long)i * s.LdA + p];
                        double bv = s.TransB ? b[s.OffsetB + bi * s.StrideB + (long)j * s.LdB + p] : b[s.OffsetB + bi * s.StrideB + (long)p * s.LdB + j];
                        dot += av * bv;
                    }
                    long ci = s.OffsetC + bi * s.StrideC + (long)i * s.LdC + j;
                    r[ci] = beta == 0 ? alpha * dot : alpha * dot + beta * c[ci];
                }
        return r;
    }
}
