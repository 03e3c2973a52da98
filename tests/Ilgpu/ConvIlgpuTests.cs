using Kernels.Ilgpu;
using Kernels.Ops.Conv;

namespace Kernels.Tests.Ilgpu;

/// <summary>The ilgpu convolution against the cpu reference on ilgpu-cpu, on shapes the self-test
/// does not hold: depthwise 3-D with a long weight reduction, a stated output size (a transposed
/// convolution's), and a kernel larger than the padded input (no outputs at all).</summary>
public class ConvIlgpuTests
{
    public static IEnumerable<TestCaseData> Shapes()
    {
        // Depthwise 3-D, dilated and strided; batch × outputs = 2·3·5·6 = 180 (thread-per-weight path).
        yield return new TestCaseData(ConvShape.Create(2, 3, 3, [5, 9, 11], [2, 3, 3], [2, 1, 2], [0, 1, 1], [1, 2, 1], 3))
            .SetArgDisplayNames("depthwise-3d");
        // 1-D, channel multiplier 2 per group, batch × outputs = 4·257 ≥ 1024 (warp-per-weight path).
        yield return new TestCaseData(ConvShape.Create(4, 2, 4, [259], [3], [1], [0], [1], 2))
            .SetArgDisplayNames("1d-long-reduction");
        // A transposed convolution's geometry, the shape stated rather than derived: 3 → 6 at stride 2
        // with output padding 1 along H (backward-data is that transposed convolution's forward).
        yield return new TestCaseData(new ConvShape(1, 3, 2, [6, 5], [3, 3], [3, 3], [2, 2], [1, 1], [1, 1], 1))
            .SetArgDisplayNames("transposed-geometry");
        // The dilated kernel (span 5) does not fit input 4: no outputs; dx is the bias alone, dw and db are zero.
        yield return new TestCaseData(ConvShape.Create(2, 2, 2, [4], [3], [1], [0], [2], 1))
            .SetArgDisplayNames("no-outputs");
    }

    private static float[] RandomData(long n, int seed)
    {
        var rng = new Random(seed);
        var data = new float[n];
        for (long i = 0; i < n; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    private static DeviceBuffer Put(Device d, float[] data)
    {
        var b = d.Allocate(DType.F32, Math.Max(1, data.Length));
        d.Upload<float>(data, b);
        return b;
    }

    private static float[] Get(Device d, DeviceBuffer b, long n)
    {
        var a = new float[n];
        d.Download<float>(b, a);
        return a;
    }

    /// <summary>Every pass on one device: y (with bias), dx (with input bias), dw, db.</summary>
    private static float[][] RunAll(Device d, ConvShape s)
    {
        var k = d.Kernels.Get<IConv>();
        long outN = Math.Max(0, s.OutputElements);
        using var x = Put(d, RandomData(s.InputElements, 1));
        using var w = Put(d, RandomData(s.WeightElements, 2));
        using var bias = Put(d, RandomData(s.OutChannels, 3));
        using var inBias = Put(d, RandomData(s.InChannels, 4));
        using var dy = Put(d, RandomData(outN, 5));
        using var y = d.Allocate(DType.F32, Math.Max(1, outN));
        using var dx = d.Allocate(DType.F32, s.InputElements);
        using var dw = d.Allocate(DType.F32, s.WeightElements);
        using var db = d.Allocate(DType.F32, s.OutChannels);
        if (outN > 0) k.Forward(s, x, w, bias, y);
        k.BackwardData(s, dy, w, dx, inBias);
        k.BackwardWeights(s, x, dy, dw, db);
        return [Get(d, y, outN), Get(d, dx, s.InputElements), Get(d, dw, s.WeightElements), Get(d, db, s.OutChannels)];
    }

    [TestCaseSource(nameof(Shapes))]
    public void EveryPassMatchesTheCpu(ConvShape s)
    {
        Assert.That(IlgpuCpuDevice.Instance.Kernels.Get<IConv>(), Is.InstanceOf<ConvIlgpu>());
        var e = RunAll(Device.Cpu, s);
        var g = RunAll(IlgpuCpuDevice.Instance, s);
        string[] names = ["y", "dx", "dw", "db"];
        for (int t = 0; t < e.Length; t++)
            for (int i = 0; i < e[t].Length; i++)
                Assert.That(g[t][i], Is.EqualTo(e[t][i]).Within(1e-5 + 1e-4 * Math.Abs(e[t][i])), $"{names[t]}[{i}]");
    }

    [Test]
    public void Float64IsRefusedWithAClearMessage()
    {
        var d = IlgpuCpuDevice.Instance;
        var s = ConvShape.Create(1, 1, 1, [3], [1], [1], [0], [1], 1);
        using var x = d.Allocate(DType.F64, 3);
        using var w = d.Allocate(DType.F64, 1);
        using var y = d.Allocate(DType.F64, 3);
        var ex = Assert.Throws<NotSupportedException>(() => d.Kernels.Get<IConv>().Forward(s, x, w, null, y));
        Assert.That(ex!.Message, Does.Contain("float32"));
    }
}
