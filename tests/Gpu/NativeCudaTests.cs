using Kernels.Bindings.Cuda;
using Kernels.Ops.Activation;
using Kernels.Ops.Elementwise;
using Kernels.Tests.Native;
using Kernels.Tests.Support;

namespace Kernels.Tests.Gpu;

/// <summary>native/activation.cu and native/elementwise.cu on cuda:0 (loaded through
/// NativeModules, launched from C#) against the Cpu reference: awkward sizes, sizes past the
/// grid cap (4096 blocks of 256) so the grid-stride loops wrap, NaN-poisoned outputs so a skipped
/// element shows. Each test is ignored where there is no CUDA driver.</summary>
[Category("Gpu")]
public class NativeCudaTests
{
    private static Device Cuda => Devices.Get("cuda:0");

    private static void RequireCuda()
    {
        if (!CudaDriverProbe.IsAvailable) Assert.Ignore($"no CUDA device: {CudaDriverProbe.Reason}");
    }

    private static readonly (ActivationKind Kind, double Alpha)[] Kinds =
    [
        (ActivationKind.Relu, 0), (ActivationKind.LeakyRelu, 0.07), (ActivationKind.Gelu, 0),
        (ActivationKind.Sigmoid, 0), (ActivationKind.Tanh, 0),
    ];

    [Test]
    public void CudaRunsTheNativeImplementations_AndLogsWhereTheModulesCameFrom()
    {
        RequireCuda();
        var cuda = (CudaDevice)Cuda;
        Assert.That(cuda.Kernels.NameOf<IActivation>(), Is.EqualTo("native"));
        Assert.That(cuda.Kernels.NameOf<IElementwise>(), Is.EqualTo("native"));
        foreach (var name in new[] { "activation", "elementwise" })
        {
            using var module = NativeModules.Load(cuda, name);
            TestContext.Out.WriteLine(NativeModules.LoadLog[^1]);
            Assert.That(NativeModules.LoadLog[^1], Does.Contain($"native:{name}"));
        }
    }

    [Test]
    public void NvrtcOutputForThisGpuLoadsAndHasEveryKernel()
    {
        RequireCuda();
        if (!Kernels.Bindings.Nvrtc.Nvrtc.IsAvailable) Assert.Ignore("no NVRTC on this machine");
        var cuda = (CudaDevice)Cuda;
        cuda.MakeCurrent();
        var (major, minor) = cuda.ComputeCapability;
        var dir = Directory.CreateTempSubdirectory("kernels-nvrtc-gpu-").FullName;
        try
        {
            foreach (var name in new[] { "activation", "elementwise" })
            {
                var image = NativeModules.Compile(name, $"sm_{major}{minor}", dir);
                using var module = CudaModule.LoadImage(image.Image);
                foreach (var kernel in Kernels.Tests.Bindings.BindingsSupport.KernelNames(NativeModules.Source(name)))
                    Assert.That(module.GetFunction(kernel).Handle, Is.Not.Zero, kernel);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [TestCase(1), TestCase(255), TestCase(257), TestCase(4099), TestCase(1_048_577 + 300_000)]
    public void ActivationMatchesTheCpu(int n)
    {
        RequireCuda();
        var r = EmuSupport.NewRandom(out int seed);
        var x = EmuSupport.Uniform(r, n, -5, 5);
        var dy = EmuSupport.Uniform(r, n, -2, 2);
        var cuda = Cuda;
        var cpu = Device.Cpu;
        var ck = cuda.Kernels.Get<IActivation>();
        var rk = cpu.Kernels.Get<IActivation>();
        foreach (var (kind, alpha) in Kinds)
        {
            double rtol = kind == ActivationKind.Gelu ? 1e-4 : 1e-5;
            string what = $"{kind} n={n} seed={seed}";
            using var cx = Upload(cpu, x);
            using var cdy = Upload(cpu, dy);
            using var cy = Upload(cpu, Poison(n));
            using var cdx = Upload(cpu, Poison(n));
            rk.Forward(kind, alpha, n, cx, cy);
            var yRef = Download(cpu, cy, n);
            rk.Backward(kind, alpha, n, cx, cy, cdy, cdx);
            var dxRef = Download(cpu, cdx, n);

            using var gx = Upload(cuda, x);
            using var gdy = Upload(cuda, dy);
            using var gy = Upload(cuda, Poison(n + 1));
            ck.Forward(kind, alpha, n, gx, gy);
            var y = Download(cuda, gy, n + 1);
            Assert.That(float.IsNaN(y[n]), $"{what}: forward wrote past n");
            Approx.Equal(EmuSupport.ToDoubles(yRef), EmuSupport.ToDoubles(y[..n]), rtol, 1e-6, what + " forward");

            using var gyRef = Upload(cuda, yRef);
            using var gdx = Upload(cuda, Poison(n + 1));
            ck.Backward(kind, alpha, n, gx, gyRef, gdy, gdx);
            var dx = Download(cuda, gdx, n + 1);
            Assert.That(float.IsNaN(dx[n]), $"{what}: backward wrote past n");
            Approx.Equal(EmuSupport.ToDoubles(dxRef), EmuSupport.ToDoubles(dx[..n]), rtol, 1e-6, what + " backward");
        }
    }

    [Test]
    public void ActivationRefusesFloat64AndForeignBuffers()
    {
        RequireCuda();
        var k = Cuda.Kernels.Get<IActivation>();
        using var d = Cuda.Allocate(DType.F64, 8);
        Assert.That(Assert.Throws<NotSupportedException>(() => k.Forward(ActivationKind.Relu, 0, 8, d, d))!.Message,
            Does.Contain("float32 only"));
        using var host = Upload(Device.Cpu, new float[8]);
        using var y = Cuda.Allocate(DType.F32, 8);
        Assert.That(Assert.Throws<ArgumentException>(() => k.Forward(ActivationKind.Relu, 0, 8, host, y))!.Message,
            Does.Contain("cuda"));
    }

    private static readonly int[][][] BroadcastCases =
    [
        [[3, 4, 5], [3, 4, 5]], [[3, 1, 5], [4, 1]], [[7], [1]], [[1], [2, 3]], [[2, 1, 3, 1], [5, 1, 4]],
        [[1, 1], [1, 1]], [[1031, 257], [257]], [[1100, 1000], [1100, 1000]], [[2, 1, 2, 1, 2, 1, 2, 1, 3, 2], [2, 1, 2, 1, 2, 1, 2]],
    ];

    [Test]
    public void BinaryBroadcastsLikeTheCpu()
    {
        RequireCuda();
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
                var actual = Run(Cuda, [a, bb], n, (k, i, y) => k.Binary(op, s, i[0], i[1], y));
                Approx.Equal(expected, actual, 1e-5, 1e-6, $"{op} {s.A} {s.B} seed={seed}");
            }
        }
    }

    [TestCase(1), TestCase(513), TestCase(3001), TestCase(1_048_576 + 4099)]
    public void UnaryAndScalarOpsMatchTheCpu(int n)
    {
        RequireCuda();
        var r = EmuSupport.NewRandom(out int seed);
        var x = EmuSupport.Uniform(r, n, 0.1f, 4);
        var signed = EmuSupport.Uniform(r, n, -3, 3);
        foreach (var op in Enum.GetValues<UnaryOp>())
        {
            var input = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt ? x : signed;
            var expected = Run(Device.Cpu, [input], n, (k, i, y) => k.Unary(op, n, i[0], y));
            var actual = Run(Cuda, [input], n, (k, i, y) => k.Unary(op, n, i[0], y));
            // GPU expf/logf/sinf are within 2 ulp (not the cpu's correctly rounded results).
            Approx.Equal(expected, actual, 1e-5, 1e-6, $"{op} n={n} seed={seed}");
        }
        double scalar = 0.3 + r.NextDouble() * 2;
        foreach (var op in Enum.GetValues<ScalarOp>())
        {
            var input = op is ScalarOp.Pow or ScalarOp.RDiv ? x : signed;
            var expected = Run(Device.Cpu, [input], n, (k, i, y) => k.Scalar(op, scalar, n, i[0], y));
            var actual = Run(Cuda, [input], n, (k, i, y) => k.Scalar(op, scalar, n, i[0], y));
            Approx.Equal(expected, actual, 1e-5, 1e-6, $"scalar {op} {scalar} n={n} seed={seed}");
        }
    }

    [Test]
    public void SignMaxMinOfNaNAndSignedZeroMatchTheCpu()
    {
        RequireCuda();
        float[] input = [float.NaN, -0.0f, 0.0f, -2.5f, 3.0f, float.NegativeInfinity];
        var expected = Run(Device.Cpu, [input], input.Length, (k, i, y) => k.Unary(UnaryOp.Sign, input.Length, i[0], y));
        var actual = Run(Cuda, [input], input.Length, (k, i, y) => k.Unary(UnaryOp.Sign, input.Length, i[0], y));
        Assert.That(actual, Is.EqualTo(expected));
        foreach (var op in new[] { ScalarOp.Max, ScalarOp.Min })
        foreach (var s in new[] { 0.0, -0.0, double.NaN })
        {
            var e = Run(Device.Cpu, [input], input.Length, (k, i, y) => k.Scalar(op, s, input.Length, i[0], y));
            var g = Run(Cuda, [input], input.Length, (k, i, y) => k.Scalar(op, s, input.Length, i[0], y));
            Assert.That(g.Select(BitConverter.DoubleToInt64Bits), Is.EqualTo(e.Select(BitConverter.DoubleToInt64Bits)),
                $"{op} {s}: NaN and the sign of zero as the cpu");
        }
    }

    [Test]
    public void SumToShapeMatchesTheCpu()
    {
        RequireCuda();
        var r = EmuSupport.NewRandom(out int seed);
        int[][][] cases =
        [
            [[3, 4, 5], [4, 1]], [[3, 4, 5], [5]], [[3, 4, 5], [1]], [[3, 4, 5], [3, 4, 5]], [[3, 4, 5], [3, 1, 1]],
            [[2, 1, 7], [1, 7]], [[6], []], [[513, 1031], [1031]], [[1031, 513], [1031, 1]], [[700, 3, 700], [3, 1]],
        ];
        foreach (var c in cases)
        {
            Shape from = c[0], to = c[1];
            var x = EmuSupport.Uniform(r, (int)from.Numel, -1, 1);
            int n = (int)to.Numel;
            var expected = Run(Device.Cpu, [x], n, (k, i, y) => k.SumToShape(from, to, i[0], y));
            var actual = Run(Cuda, [x], n, (k, i, y) => k.SumToShape(from, to, i[0], y));
            // Long sums: float accumulation order differs from the cpu's.
            Approx.Equal(expected, actual, 1e-4, 1e-3, $"sum {from} -> {to} seed={seed}");
        }
    }

    [TestCase(301), TestCase(1_048_576 * 2 + 77)]
    public void FillCopyCastAndAxpbyOnEveryDType(int n)
    {
        RequireCuda();
        var dev = Cuda;
        var k = dev.Kernels.Get<IElementwise>();
        using var f64 = dev.Allocate(DType.F64, n + 1);
        using var i32 = dev.Allocate(DType.I32, n + 1);
        using var f32 = dev.Allocate(DType.F32, n + 1);
        using var f32b = dev.Allocate(DType.F32, n + 1);
        dev.Upload<double>(Enumerable.Repeat(double.NaN, n + 1).ToArray(), f64);
        dev.Upload<float>(Enumerable.Repeat(float.NaN, n + 1).ToArray(), f32);
        dev.Upload<int>(Enumerable.Repeat(12345, n + 1).ToArray(), i32);
        k.Fill(-2.75, n, f64);
        k.Fill(-7, n, i32);
        var d = new double[n + 1];
        dev.Download<double>(f64, d);
        Assert.That(d[..n], Is.All.EqualTo(-2.75));
        Assert.That(double.IsNaN(d[n]), "Fill wrote past n");
        var ints = new int[n + 1];
        dev.Download<int>(i32, ints);
        Assert.That(ints[..n], Is.All.EqualTo(-7));
        Assert.That(ints[n], Is.EqualTo(12345));

        k.Cast(n, i32, f32); // -7
        k.Copy(n, f32, f32b);
        k.Axpby(2, f32, -0.5, n, f32b); // 2·(-7) - 0.5·(-7) = -10.5
        k.Cast(n, f32b, f64);
        dev.Download<double>(f64, d);
        Assert.That(d[..n], Is.All.EqualTo(-10.5));
        k.Cast(n, f64, f32);
        k.Cast(n, i32, f64);
        var f = new float[n + 1];
        dev.Download<float>(f32, f);
        dev.Download<double>(f64, d);
        Assert.That(f[..n], Is.All.EqualTo(-10.5f));
        Assert.That(float.IsNaN(f[n]), "Cast wrote past n");
        Assert.That(d[..n], Is.All.EqualTo(-7.0));

        // Copy of 64-bit words keeps every bit.
        var bits = new double[n + 1];
        for (int i = 0; i < n; i++) bits[i] = BitConverter.Int64BitsToDouble(0x7FF0_0000_0000_0001L + i);
        bits[n] = 1.5;
        using var src = dev.Allocate(DType.F64, n + 1);
        dev.Upload<double>(bits, src);
        k.Fill(0.25, n + 1, f64);
        k.Copy(n, src, f64);
        dev.Download<double>(f64, d);
        for (int i = 0; i < n; i += Math.Max(1, n / 1000))
            Assert.That(BitConverter.DoubleToInt64Bits(d[i]), Is.EqualTo(0x7FF0_0000_0000_0001L + i), $"copy u64 at {i}");
        Assert.That(d[n], Is.EqualTo(0.25));

        var e = Assert.Throws<NotSupportedException>(() => k.Unary(UnaryOp.Exp, n, f64, f64))!;
        Assert.That(e.Message, Does.Contain("float32 only"));
    }

    [Test]
    public void ZeroLengthCallsLaunchNothingAndSucceed()
    {
        RequireCuda();
        var dev = Cuda;
        var k = dev.Kernels.Get<IElementwise>();
        using var a = dev.Allocate(DType.F32, 1);
        k.Unary(UnaryOp.Exp, 0, a, a);
        k.Fill(1, 0, a);
        k.Axpby(1, a, 1, 0, a);
        dev.Kernels.Get<IActivation>().Forward(ActivationKind.Relu, 0, 0, a, a);
        dev.Synchronize();
    }

    private static DeviceBuffer Upload(Device d, float[] v)
    {
        var b = d.Allocate(DType.F32, v.Length);
        d.Upload<float>(v, b);
        return b;
    }

    private static float[] Download(Device d, DeviceBuffer b, int n)
    {
        var r = new float[n];
        d.Download<float>(b, r);
        return r;
    }

    private static float[] Poison(int n) => Enumerable.Repeat(float.NaN, n).ToArray();

    private static double[] Run(Device device, float[][] inputs, int n,
        Action<IElementwise, DeviceBuffer[], DeviceBuffer> body)
    {
        var buffers = inputs.Select(a => Upload(device, a)).ToArray();
        using var y = device.Allocate(DType.F32, n + 1);
        device.Upload<float>(Poison(n + 1), y);
        try
        {
            body(device.Kernels.Get<IElementwise>(), buffers, y);
            var result = Download(device, y, n + 1);
            // The cpu reference may use its whole (pooled) buffer; the kernels under test may not.
            if (device.Kind != DeviceKind.Cpu) Assert.That(float.IsNaN(result[n]), $"{device.Name}: wrote past n={n}");
            return EmuSupport.ToDoubles(result[..n]);
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }
}
