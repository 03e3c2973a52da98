using Kernels.Ilgpu;
using Kernels.Registry;
using Kernels.Ops.Elementwise;
using Kernels.SelfTesting;
using Kernels.Tests.Support;

namespace Kernels.Tests.Ilgpu;

/// <summary>Runs one body with the Cpu reference (cpu device, float64) and with an Ilgpu
/// implementation (ilgpu-cpu, float32) on the same inputs, outputs poisoned first, and compares
/// every output (NaN must match NaN). For the paths the self-test's sizes do not reach.</summary>
internal static class IlgpuVersusCpu
{
    public static void Check<T>(T ilgpu, string what, Action<T, CaseIo> body, double rtol = 1e-5, double atol = 1e-5)
        where T : class, IKernelFamily
    {
        using var refIo = new CaseIo(Device.Cpu, DType.F64);
        body(Device.Cpu.Kernels.Get<T>(), refIo);
        var (names, expected) = refIo.Collect();
        using var io = new CaseIo(IlgpuCpuDevice.Instance, DType.F32);
        body(ilgpu, io);
        var (_, actual) = io.Collect();
        for (int i = 0; i < names.Length; i++) Approx.Equal(expected[i], actual[i], rtol, atol, $"{what}: {names[i]}");
    }

    public static double[] Uniform(int seed, long n, double lo = -2, double hi = 2)
    {
        var r = new Random(seed);
        var a = new double[n];
        // float32-representable, so both runs see the same inputs exactly.
        for (long i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * r.NextDouble());
        return a;
    }
}

/// <summary>ElementwiseIlgpu on ilgpu-cpu against the Cpu reference, on what the self-test's
/// shapes do not reach: broadcasts with more than four coalesced outer axes (host-split launches),
/// SumToShape's group-per-output path and its host-split kept / summed axes, NaN rules, dtypes.</summary>
public class ElementwiseIlgpuTests
{
    private static ElementwiseIlgpu Kernels => new(IlgpuCpuDevice.Instance);

    [TestCase(BinaryOp.Sub), TestCase(BinaryOp.Div), TestCase(BinaryOp.Pow)]
    public void BroadcastWithMoreOuterAxesThanTheKernelTakesIsSplitOnTheHost(BinaryOp op)
    {
        // Every axis alternates which side broadcasts, so nothing coalesces: six outer axes + inner.
        var s = BroadcastShape.Of("test", new Shape(2, 1, 3, 1, 2, 1, 3), new Shape(1, 2, 1, 3, 1, 2, 1));
        var a = IlgpuVersusCpu.Uniform(1, s.A.Numel, 0.5, 2);
        var b = IlgpuVersusCpu.Uniform(2, s.B.Numel, 0.5, 2);
        IlgpuVersusCpu.Check<IElementwise>(Kernels, $"binary {op}", (k, io) =>
            k.Binary(op, s, io.In(a), io.In(b), io.Out("y", s.Out.Numel)));
    }

    [Test]
    public void ScalarOperandBroadcastsOverALongRow()
    {
        var s = BroadcastShape.Of("test", new Shape(1), new Shape(3, 700));
        var a = IlgpuVersusCpu.Uniform(3, 1);
        var b = IlgpuVersusCpu.Uniform(4, s.B.Numel);
        IlgpuVersusCpu.Check<IElementwise>(Kernels, "scalar-a sub", (k, io) =>
            k.Binary(BinaryOp.Sub, s, io.In(a), io.In(b), io.Out("y", s.Out.Numel)));
    }

    [TestCase(new[] { 300, 7 }, new[] { 7 })]
    [TestCase(new[] { 5, 300 }, new[] { 5, 1 })]
    [TestCase(new[] { 3, 129, 2 }, new[] { 1, 1, 2 })]
    [TestCase(new[] { 2, 3, 2, 3, 2, 3, 2, 3 }, new[] { 2, 1, 2, 1, 2, 1, 2, 1 })]
    [TestCase(new[] { 3, 2, 3, 2, 3, 2, 3, 2 }, new[] { 2, 1, 2, 1, 2, 1, 2 })]
    [TestCase(new[] { 4, 0, 3 }, new[] { 1, 3 })]
    public void SumToShapeMatchesTheReference(int[] from, int[] to)
    {
        var fs = new Shape(from);
        var ts = new Shape(to);
        var x = IlgpuVersusCpu.Uniform(5, fs.Numel);
        IlgpuVersusCpu.Check<IElementwise>(Kernels, $"sum-to-shape {fs}→{ts}", (k, io) =>
            k.SumToShape(fs, ts, io.In(x), io.Out("y", ts.Numel)));
    }

    /// <summary>The group-per-output path with the 256-thread groups cuda uses, run on ilgpu-cpu.</summary>
    [Test]
    public void SumToShapeWithTheCudaGroupSize()
    {
        var fs = new Shape(700, 3);
        var ts = new Shape(1, 3);
        var x = IlgpuVersusCpu.Uniform(17, fs.Numel);
        IlgpuVersusCpu.Check<IElementwise>(new ElementwiseIlgpu(IlgpuCpuDevice.Instance) { GroupThreads = 256 }, "sum-to-shape",
            (k, io) => k.SumToShape(fs, ts, io.In(x), io.Out("y", ts.Numel)));
    }

    [Test]
    public void MaxMinAndSignFollowPyTorchOnNaN()
    {
        double[] a = [1, double.NaN, -2, double.NaN, 0];
        double[] b = [double.NaN, 3, -1, double.NaN, -0.5];
        var s = BroadcastShape.Of("test", new Shape(5), new Shape(5));
        foreach (var op in new[] { BinaryOp.Max, BinaryOp.Min })
            IlgpuVersusCpu.Check<IElementwise>(Kernels, $"binary {op}", (k, io) =>
                k.Binary(op, s, io.In(a), io.In(b), io.Out("y", 5)));
        foreach (var op in new[] { ScalarOp.Max, ScalarOp.Min })
            IlgpuVersusCpu.Check<IElementwise>(Kernels, $"scalar {op}", (k, io) =>
                k.Scalar(op, 0.5, 5, io.In(a), io.Out("y", 5)));
        IlgpuVersusCpu.Check<IElementwise>(Kernels, "sign", (k, io) => k.Unary(UnaryOp.Sign, 5, io.In(a), io.Out("y", 5)));
    }

    [TestCase(UnaryOp.Sin), TestCase(UnaryOp.Cos)]
    public void SinAndCosStayAccurateFarFromZero(UnaryOp op)
    {
        // The kernels reduce the argument into [−π, π] first (what PTX's sin/cos.approx need).
        var x = IlgpuVersusCpu.Uniform(14, 500, -60, 60);
        IlgpuVersusCpu.Check<IElementwise>(Kernels, $"{op}", (k, io) => k.Unary(op, 500, io.In(x), io.Out("y", 500)), 1e-4, 2e-5);
    }

    [Test]
    public void AxpbyWithBetaZeroIgnoresWhatYHeld()
    {
        var x = IlgpuVersusCpu.Uniform(6, 300);
        var y0 = new double[300];
        Array.Fill(y0, double.NaN);
        IlgpuVersusCpu.Check<IElementwise>(Kernels, "axpby beta 0", (k, io) => k.Axpby(2.5, io.In(x), 0, 300, io.InOut("y", y0)));
    }

    [Test]
    public void Int32FillCopyAndCastWork()
    {
        var d = IlgpuCpuDevice.Instance;
        var k = Kernels;
        using var a = d.Allocate(DType.I32, 300);
        using var b = d.Allocate(DType.I32, 300);
        using var f = d.Allocate(DType.F32, 300);
        k.Fill(-7, 300, a);
        k.Copy(300, a, b);
        k.Cast(300, b, f);
        var ints = new int[300];
        var floats = new float[300];
        d.Download<int>(b, ints);
        d.Download<float>(f, floats);
        Assert.That(ints, Is.All.EqualTo(-7));
        Assert.That(floats, Is.All.EqualTo(-7f));
    }

    [Test]
    public void Float64IsRefusedWithAClearMessage()
    {
        var d = IlgpuCpuDevice.Instance;
        using var x = d.Allocate(DType.F64, 4);
        using var y = d.Allocate(DType.F64, 4);
        var e = Assert.Throws<NotSupportedException>(() => Kernels.Unary(UnaryOp.Exp, 4, x, y));
        Assert.That(e!.Message, Does.Contain("float32"));
        Assert.Throws<NotSupportedException>(() => Kernels.Fill(1, 4, y));
    }

    [Test]
    public void ABufferOfAnotherDeviceIsRefused()
    {
        using var x = Device.Cpu.Allocate(DType.F32, 4);
        using var y = IlgpuCpuDevice.Instance.Allocate(DType.F32, 4);
        var e = Assert.Throws<ArgumentException>(() => Kernels.Unary(UnaryOp.Exp, 4, x, y));
        Assert.That(e!.Message, Does.Contain("cpu"));
    }
}
