using Kernels.Ilgpu;
using Kernels.Ops.Gemm;

namespace Kernels.Tests.Ilgpu;

/// <summary>Runs one GEMM on a device implementation and on the cpu device's GEMM from the same
/// float32 inputs and compares C (padding and batch gaps included, so a stray write fails too).</summary>
internal static class GemmComparison
{
    public static GemmShape Shape(int m, int n, int k, bool ta, bool tb, int pad = 0, long off = 0, int batch = 1)
    {
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        long sa = (long)(ta ? k : m) * lda + 3, sb = (long)(tb ? n : k) * ldb + 1, sc = (long)m * ldc + 2;
        return pad == 0 && off == 0 && batch == 1
            ? new GemmShape(m, n, k, ta, tb)
            : new GemmShape(m, n, k, ta, tb, lda, ldb, ldc, off, off + 1, off + 2, batch, sa, sb, sc);
    }

    public static void Check(IGemm impl, Device device, GemmShape s, double alpha, double beta,
        bool poisonA = false, bool poisonC = false)
    {
        var rng = new Random(s.M * 131 + s.N * 17 + s.K + (s.TransA ? 7 : 0) + (s.TransB ? 3 : 0) + s.Batch);
        var a = Fill(rng, s.NeededA + 1, poisonA);
        var b = Fill(rng, s.NeededB + 1, false);
        var c = Fill(rng, s.NeededC + 1, poisonC);
        var expected = Run(new GemmCpu(), Device.Cpu, s, alpha, a, b, beta, c);
        var actual = Run(impl, device, s, alpha, a, b, beta, c);
        string what = $"{impl.GetType().Name} {s} α={alpha} β={beta}";
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], g = actual[i];
            Assert.That(float.IsNaN(g), Is.EqualTo(float.IsNaN(e)), $"{what}: element {i} is {g}, expected {e}");
            if (!float.IsNaN(e))
                Assert.That(g, Is.EqualTo(e).Within(1e-4 * (1 + Math.Abs(e))), $"{what}: element {i}");
        }
    }

    private static float[] Fill(Random rng, long n, bool poison)
    {
        var v = new float[n];
        for (long i = 0; i < n; i++) v[i] = poison ? float.NaN : (float)(rng.NextDouble() * 2 - 1);
        return v;
    }

    private static float[] Run(IGemm impl, Device device, GemmShape s, double alpha, float[] a, float[] b, double beta,
        float[] c)
    {
        using var ba = device.Allocate(DType.F32, a.Length);
        using var bb = device.Allocate(DType.F32, b.Length);
        using var bc = device.Allocate(DType.F32, c.Length);
        device.Upload<float>(a, ba);
        device.Upload<float>(b, bb);
        device.Upload<float>(c, bc);
        impl.Gemm(s, alpha, ba, bb, beta, bc);
        var back = new float[c.Length];
        device.Download<float>(bc, back);
        return back;
    }
}

/// <summary>The tiled ILGPU SGEMM on ilgpu-cpu, on shapes the self-test does not reach: several
/// 64×64 tiles with ragged edges, every transpose, padded leading dimensions, offsets and batch
/// strides, alpha = 0 over NaN operands and beta = 0 over a NaN C.</summary>
public class GemmIlgpuTests
{
    private static Device Dev => IlgpuCpuDevice.Instance;

    [Test]
    public void SeveralTilesRaggedEdgesEveryTranspose()
    {
        var gemm = new GemmIlgpu(Dev);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                GemmComparison.Check(gemm, Dev, GemmComparison.Shape(70, 66, 21, ta, tb), 1, 0);
                GemmComparison.Check(gemm, Dev, GemmComparison.Shape(65, 33, 17, ta, tb, pad: 3, off: 5, batch: 2), 0.5, -1.5);
            }
    }

    [Test]
    public void AlphaZeroReadsNeitherOperandAndBetaZeroIgnoresC()
    {
        var gemm = new GemmIlgpu(Dev);
        GemmComparison.Check(gemm, Dev, GemmComparison.Shape(9, 70, 13, false, true), 0, 0.5, poisonA: true);
        GemmComparison.Check(gemm, Dev, GemmComparison.Shape(9, 70, 13, true, false, pad: 2), 1.25, 0, poisonC: true);
        GemmComparison.Check(gemm, Dev, GemmComparison.Shape(5, 9, 0, false, false, batch: 2), 1, 0.5);
    }

    [Test]
    public void Float64AndForeignBuffersAreRejected()
    {
        var gemm = new GemmIlgpu(Dev);
        var s = new GemmShape(2, 2, 2);
        using var a = Dev.Allocate(DType.F64, 4);
        using var b = Dev.Allocate(DType.F64, 4);
        using var c = Dev.Allocate(DType.F64, 4);
        Assert.Throws<NotSupportedException>(() => gemm.Gemm(s, 1, a, b, 0, c));
        using var fa = Dev.Allocate(DType.F32, 4);
        using var fc = Dev.Allocate(DType.F32, 4);
        using var cpuB = Device.Cpu.Allocate(DType.F32, 4);
        var e = Assert.Throws<ArgumentException>(() => gemm.Gemm(s, 1, fa, cpuB, 0, fc));
        Assert.That(e!.Message, Does.Contain("cpu"));
    }
}
