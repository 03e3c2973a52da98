using Kernels.Ilgpu;
using Kernels.Ops.Pool;

namespace Kernels.Tests.Ilgpu;

/// <summary>The ilgpu pooling against the cpu reference on ilgpu-cpu, on what random self-test data
/// does not reach: ties, NaNs and infinities everywhere (the max must pick the same cell, and its
/// backward must route each gradient to that cell, summed in the cpu's order, so bit for bit).</summary>
public class PoolIlgpuTests
{
    private static PoolShape Shape(int n, int c, int[] input, int[] k, int[] st, int[] p) => new(n, c,
        input[0], input[1], input[2],
        PoolShape.OutSize(input[0], k[0], st[0], p[0]), PoolShape.OutSize(input[1], k[1], st[1], p[1]),
        PoolShape.OutSize(input[2], k[2], st[2], p[2]),
        k[0], k[1], k[2], st[0], st[1], st[2], p[0], p[1], p[2]);

    public static IEnumerable<TestCaseData> Shapes()
    {
        // Overlapping windows with padding (every input read by several outputs), 2-D and 3-D.
        yield return new TestCaseData(Shape(2, 3, [1, 7, 9], [1, 3, 3], [1, 2, 2], [0, 1, 1])).SetArgDisplayNames("2d-k3s2p1");
        yield return new TestCaseData(Shape(1, 2, [5, 4, 6], [3, 2, 3], [1, 1, 2], [1, 0, 1])).SetArgDisplayNames("3d-overlap");
        // The cpu's float32 2×2 fast path (a different code path there, same rules).
        yield return new TestCaseData(Shape(1, 2, [1, 6, 21], [1, 2, 2], [1, 2, 2], [0, 0, 0])).SetArgDisplayNames("2x2s2");
    }

    private static float[] TieData(int n, int seed)
    {
        var rng = new Random(seed);
        float[] pick = [-1, 0, 1, 2, float.NegativeInfinity, float.PositiveInfinity];
        var data = new float[n];
        for (int i = 0; i < n; i++)
        {
            int r = rng.Next(40);
            data[i] = r == 0 ? float.NaN : r < 4 ? pick[4 + (r & 1)] : pick[r % 4];
        }
        return data;
    }

    private static float[] RandomData(int n, int seed)
    {
        var rng = new Random(seed);
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    private static DeviceBuffer Put<T>(Device d, DType t, T[] data) where T : unmanaged
    {
        var b = d.Allocate(t, data.Length);
        d.Upload<T>(data, b);
        return b;
    }

    private static T[] Get<T>(Device d, DeviceBuffer b, long n) where T : unmanaged
    {
        var a = new T[n];
        d.Download<T>(b, a);
        return a;
    }

    /// <summary>Runs max forward + backward on <paramref name="d"/>: (y, argmax, dx).</summary>
    private static (float[] Y, int[] Arg, float[] Dx) Max(Device d, in PoolShape s, float[] x, float[] dy)
    {
        var k = d.Kernels.Get<IPool>();
        long outN = s.Planes * s.OutPlane, inN = s.Planes * s.InPlane;
        using var xb = Put(d, DType.F32, x);
        using var dyb = Put(d, DType.F32, dy);
        using var yb = d.Allocate(DType.F32, outN);
        using var ab = d.Allocate(DType.I32, outN);
        using var dxb = d.Allocate(DType.F32, inN);
        k.MaxForward(s, xb, yb, ab);
        k.MaxBackward(s, dyb, ab, dxb);
        return (Get<float>(d, yb, outN), Get<int>(d, ab, outN), Get<float>(d, dxb, inN));
    }

    [TestCaseSource(nameof(Shapes))]
    public void MaxPoolPicksTheCpusCellOnTiesAndNaNsAndRoutesTheGradientThere(PoolShape s)
    {
        var ilgpu = IlgpuCpuDevice.Instance;
        Assert.That(ilgpu.Kernels.Get<IPool>(), Is.InstanceOf<PoolIlgpu>());
        var x = TieData((int)(s.Planes * s.InPlane), 11);
        var dy = RandomData((int)(s.Planes * s.OutPlane), 12);
        var (ey, ea, edx) = Max(Device.Cpu, s, x, dy);
        var (gy, ga, gdx) = Max(ilgpu, s, x, dy);
        Assert.That(ga, Is.EqualTo(ea), "argmax");
        for (int i = 0; i < ey.Length; i++)
            Assert.That(BitConverter.SingleToInt32Bits(gy[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(ey[i])),
                $"y[{i}]: {gy[i]} vs {ey[i]}");
        // Same additions in the same order: exactly the cpu's sums.
        Assert.That(gdx, Is.EqualTo(edx), "dx");
    }

    [TestCaseSource(nameof(Shapes))]
    public void AveragePoolMatchesTheCpu(PoolShape s)
    {
        var x = RandomData((int)(s.Planes * s.InPlane), 21);
        var dy = RandomData((int)(s.Planes * s.OutPlane), 22);
        float[] Run(Device d, bool backward)
        {
            var k = d.Kernels.Get<IPool>();
            long outN = s.Planes * s.OutPlane, inN = s.Planes * s.InPlane;
            using var src = Put(d, DType.F32, backward ? dy : x);
            using var dst = d.Allocate(DType.F32, backward ? inN : outN);
            if (backward) k.AvgBackward(s, src, dst);
            else k.AvgForward(s, src, dst);
            return Get<float>(d, dst, backward ? inN : outN);
        }
        foreach (bool backward in new[] { false, true })
        {
            var e = Run(Device.Cpu, backward);
            var g = Run(IlgpuCpuDevice.Instance, backward);
            for (int i = 0; i < e.Length; i++)
                Assert.That(g[i], Is.EqualTo(e[i]).Within(1e-6 + 1e-5 * Math.Abs(e[i])), $"{(backward ? "dx" : "y")}[{i}]");
        }
    }

    [Test]
    public void Float64IsRefusedWithAClearMessage()
    {
        var d = IlgpuCpuDevice.Instance;
        using var x = d.Allocate(DType.F64, 4);
        using var y = d.Allocate(DType.F64, 1);
        var ex = Assert.Throws<NotSupportedException>(() => d.Kernels.Get<IPool>().GlobalAvgForward(1, 4, x, y));
        Assert.That(ex!.Message, Does.Contain("float32"));
    }
}
