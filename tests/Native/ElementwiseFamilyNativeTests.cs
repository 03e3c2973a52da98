using Kernels.Nets;
using Kernels.Ops.Elementwise;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Native;

/// <summary>The Native Elementwise implementation on the emu device against the Cpu reference, on
/// fresh random inputs with NaN-poisoned outputs, and a small autograd graph run on emu.</summary>
public class ElementwiseFamilyNativeTests
{

    private static Device Emu => Devices.Get("emu");

    private static readonly int[][][] BroadcastCases =
    [
        [[3, 4, 5], [3, 4, 5]], [[3, 1, 5], [4, 1]], [[7], [1]], [[1], [2, 3]], [[2, 1, 3, 1], [5, 1, 4]],
        [[1, 1], [1, 1]],
    ];

    [Test]
    public void BinaryBroadcastsLikeTheCpu()
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        foreach (var c in BroadcastCases)
        {
            var s = BroadcastShape.Of("test", new Shape(c[0]), new Shape(c[1]));
            var a = EmuSupport.Uniform(r, (int)s.A.Numel, 0.2f, 3);
            var b = EmuSupport.Uniform(r, (int)s.B.Numel, -2, 2);
            foreach (var op in Enum.GetValues<BinaryOp>())
            {
                var bb = op == BinaryOp.Pow ? Array.ConvertAll(b, v => v * 0.5f) : b;
                int n = (int)s.Out.Numel;
                var expected = Run(Device.Cpu, [a, bb], n, (k, i, y) => k.Binary(op, s, i[0], i[1], y));
                var actual = Run(Emu, [a, bb], n, (k, i, y) => k.Binary(op, s, i[0], i[1], y));
                Approx.Equal(expected, actual, 1e-5, 1e-6, $"{op} {s.A} {s.B} seed={seed}");
            }
        }
    }

    [TestCase(1), TestCase(513), TestCase(3001)]
    public void UnaryAndScalarOpsMatchTheCpu(int n)
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        var x = EmuSupport.Uniform(r, n, 0.1f, 4); // positive: log, sqrt, rsqrt, pow are defined
        var signed = EmuSupport.Uniform(r, n, -3, 3);
        foreach (var op in Enum.GetValues<UnaryOp>())
        {
            var input = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt ? x : signed;
            var expected = Run(Device.Cpu, [input], n, (k, i, y) => k.Unary(op, n, i[0], y));
            var actual = Run(Emu, [input], n, (k, i, y) => k.Unary(op, n, i[0], y));
            Approx.Equal(expected, actual, 1e-5, 1e-6, $"{op} n={n} seed={seed}");
        }
        double scalar = 0.3 + r.NextDouble() * 2;
        foreach (var op in Enum.GetValues<ScalarOp>())
        {
            var input = op is ScalarOp.Pow or ScalarOp.RDiv ? x : signed;
            var expected = Run(Device.Cpu, [input], n, (k, i, y) => k.Scalar(op, scalar, n, i[0], y));
            var actual = Run(Emu, [input], n, (k, i, y) => k.Scalar(op, scalar, n, i[0], y));
            Approx.Equal(expected, actual, 1e-5, 1e-6, $"scalar {op} {scalar} n={n} seed={seed}");
        }
    }

    [Test]
    public void SignOfNaNAndSignedZeroMatchesTheCpu()
    {
        EmuSupport.RequireLibrary();
        float[] input = [float.NaN, -0.0f, 0.0f, -2.5f, 3.0f, float.NegativeInfinity];
        var expected = Run(Device.Cpu, [input], input.Length, (k, i, y) => k.Unary(UnaryOp.Sign, input.Length, i[0], y));
        var actual = Run(Emu, [input], input.Length, (k, i, y) => k.Unary(UnaryOp.Sign, input.Length, i[0], y));
        Assert.That(actual, Is.EqualTo(expected));
        Assert.That(expected, Is.EqualTo(new float[] { 0, 0, 0, -1, 1, -1 }));
    }

    [Test]
    public void SumToShapeMatchesTheCpu()
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        int[][][] cases =
        [
            [[3, 4, 5], [4, 1]], [[3, 4, 5], [5]], [[3, 4, 5], [1]], [[3, 4, 5], [3, 4, 5]], [[3, 4, 5], [3, 1, 1]],
            [[2, 1, 7], [1, 7]], [[6], []],
        ];
        foreach (var c in cases)
        {
            Shape from = c[0], to = c[1];
            var x = EmuSupport.Uniform(r, (int)from.Numel, -1, 1);
            int n = (int)to.Numel;
            var expected = Run(Device.Cpu, [x], n, (k, i, y) => k.SumToShape(from, to, i[0], y));
            var actual = Run(Emu, [x], n, (k, i, y) => k.SumToShape(from, to, i[0], y));
            Approx.Equal(expected, actual, 1e-5, 1e-5, $"sum {from} -> {to} seed={seed}");
        }
    }

    [Test]
    public void FillCopyCastAndAxpbyOnEveryDType()
    {
        EmuSupport.RequireLibrary();
        var emu = Emu;
        var k = emu.Kernels.Get<IElementwise>();
        Assert.That(emu.Kernels.NameOf<IElementwise>(), Is.EqualTo("native"));
        const int n = 301;
        using var f64 = emu.Allocate(DType.F64, n + 1);
        using var i32 = emu.Allocate(DType.I32, n + 1);
        using var f32 = emu.Allocate(DType.F32, n + 1);
        using var f32b = emu.Allocate(DType.F32, n + 1);
        emu.Upload<double>(Enumerable.Repeat(double.NaN, n + 1).ToArray(), f64);
        k.Fill(-2.75, n, f64);
        k.Fill(-7, n, i32);
        var d = new double[n + 1];
        emu.Download<double>(f64, d);
        Assert.That(d[..n], Is.All.EqualTo(-2.75));
        Assert.That(double.IsNaN(d[n]), Is.True, "Fill wrote past n");

        k.Cast(n, i32, f32); // -7
        k.Copy(n, f32, f32b);
        k.Axpby(2, f32, -0.5, n, f32b); // 2·(-7) - 0.5·(-7) = -10.5
        k.Cast(n, f32b, f64);
        emu.Download<double>(f64, d);
        Assert.That(d[..n], Is.All.EqualTo(-10.5));
        k.Cast(n, f64, f32);
        k.Cast(n, i32, f64);
        var f = new float[n];
        emu.Download<float>(f32, f);
        emu.Download<double>(f64, d);
        Assert.That(f, Is.All.EqualTo(-10.5f));
        Assert.That(d[..n], Is.All.EqualTo(-7.0));
        var e = Assert.Throws<NotSupportedException>(() => k.Unary(UnaryOp.Exp, n, f64, f64))!;
        Assert.That(e.Message, Does.Contain("float32 only"));
    }

    [Test]
    public void AutogradGraphOnEmuMatchesTheCpu()
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        var xs = EmuSupport.Uniform(r, 3 * 4 * 5, -2, 2);
        var ws = EmuSupport.Uniform(r, 4 * 1, -2, 2);
        var gs = EmuSupport.Uniform(r, 3 * 4 * 5, -1, 1);
        (double[] Y, double[] Dx, double[] Dw) Run(Device device)
        {
            var x = Tensor.FromArray(xs, new Shape(3, 4, 5), device);
            var w = Tensor.FromArray(ws, new Shape(4, 1), device);
            x.RequiresGrad = true;
            w.RequiresGrad = true;
            var y = F.Mul(F.Gelu(x), w) + F.Sigmoid(x) * 0.5;
            y.Backward(Tensor.FromArray(gs, new Shape(3, 4, 5), device));
            return (y.ToDoubles(), x.Grad!.ToDoubles(), w.Grad!.ToDoubles());
        }
        var cpu = Run(Device.Cpu);
        var emu = Run(Emu);
        Approx.Equal(cpu.Y, emu.Y, 1e-4, 1e-6, $"y seed={seed}");
        Approx.Equal(cpu.Dx, emu.Dx, 1e-4, 1e-6, $"dx seed={seed}");
        Approx.Equal(cpu.Dw, emu.Dw, 1e-4, 1e-5, $"dw seed={seed}");
    }

    private static double[] Run(Device device, float[][] inputs, int n,
        Action<IElementwise, DeviceBuffer[], DeviceBuffer> body)
    {
        var buffers = inputs.Select(a =>
        {
            var b = device.Allocate(DType.F32, a.Length);
            device.Upload<float>(a, b);
            return b;
        }).ToArray();
        using var y = device.Allocate(DType.F32, n);
        device.Upload<float>(Enumerable.Repeat(float.NaN, n).ToArray(), y);
        try
        {
            body(device.Kernels.Get<IElementwise>(), buffers, y);
            var result = new float[n];
            device.Download<float>(y, result);
            return EmuSupport.ToDoubles(result);
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }
}
