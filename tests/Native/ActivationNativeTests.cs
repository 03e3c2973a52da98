using Kernels.Bindings.Emu;
using Kernels.Ops.Activation;
using Kernels.Tests.Support;

namespace Kernels.Tests.Native;

/// <summary>native/activation.cu on the emu device against the Cpu reference: fresh random inputs
/// of awkward sizes (grid-stride loops wrap: the emulator caps grids at 8 blocks of 256), outputs
/// poisoned with NaN first so an element the kernel skips shows.</summary>
public class ActivationNativeTests
{
    private static readonly (ActivationKind Kind, double Alpha)[] Kinds =
    [
        (ActivationKind.Relu, 0), (ActivationKind.LeakyRelu, 0.07), (ActivationKind.Gelu, 0),
        (ActivationKind.Sigmoid, 0), (ActivationKind.Tanh, 0),
    ];


    [Test]
    public void EmuDeviceRunsTheNativeImplementation()
    {
        EmuSupport.RequireLibrary();
        var emu = Devices.Get("emu");
        Assert.That(emu, Is.InstanceOf<EmuDevice>());
        Assert.That(emu.Kind, Is.EqualTo(DeviceKind.Emu));
        Assert.That(emu.Kernels.NameOf<IActivation>(), Is.EqualTo("native"));
    }

    [TestCase(1), TestCase(255), TestCase(257), TestCase(1000), TestCase(4099)]
    public void ForwardAndBackwardMatchTheCpuReference(int n)
    {
        EmuSupport.RequireLibrary();
        var r = EmuSupport.NewRandom(out int seed);
        var x = EmuSupport.Uniform(r, n, -5, 5);
        var dy = EmuSupport.Uniform(r, n, -2, 2);
        var emu = Devices.Get("emu");
        var cpu = Device.Cpu;
        var emuKernels = emu.Kernels.Get<IActivation>();
        var cpuKernels = cpu.Kernels.Get<IActivation>();
        foreach (var (kind, alpha) in Kinds)
        {
            // gelu: the C library's erff against MathNet's double erf.
            double rtol = kind == ActivationKind.Gelu ? 1e-4 : 1e-5;
            string what = $"{kind} n={n} seed={seed}";

            using var cx = Upload(cpu, x);
            using var cdy = Upload(cpu, dy);
            using var cy = Upload(cpu, Poison(n));
            using var cdx = Upload(cpu, Poison(n));
            cpuKernels.Forward(kind, alpha, n, cx, cy);
            var yRef = Download(cpu, cy, n);
            cpuKernels.Backward(kind, alpha, n, cx, cy, cdy, cdx);
            var dxRef = Download(cpu, cdx, n);

            using var ex = Upload(emu, x);
            using var edy = Upload(emu, dy);
            using var ey = Upload(emu, Poison(n));
            emuKernels.Forward(kind, alpha, n, ex, ey);
            Approx.Equal(EmuSupport.ToDoubles(yRef), EmuSupport.ToDoubles(Download(emu, ey, n)), rtol, 1e-6,
                what + " forward");

            // Backward reads y (sigmoid, tanh): give both the reference y so only backward is compared.
            using var eyRef = Upload(emu, yRef);
            using var edx = Upload(emu, Poison(n));
            emuKernels.Backward(kind, alpha, n, ex, eyRef, edy, edx);
            Approx.Equal(EmuSupport.ToDoubles(dxRef), EmuSupport.ToDoubles(Download(emu, edx, n)), rtol, 1e-6,
                what + " backward");
        }
    }

    [Test]
    public void ElementsPastNAreLeftAlone()
    {
        EmuSupport.RequireLibrary();
        var emu = Devices.Get("emu");
        using var x = Upload(emu, [1f, -2f, 3f, -4f, 5f]);
        using var y = Upload(emu, Poison(5));
        emu.Kernels.Get<IActivation>().Forward(ActivationKind.Relu, 0, 3, x, y);
        var got = Download(emu, y, 5);
        Assert.That(got[..3], Is.EqualTo(new[] { 1f, 0f, 3f }));
        Assert.That(float.IsNaN(got[3]) && float.IsNaN(got[4]), Is.True, "elements past n were written");
    }

    [Test]
    public void Float64IsRefusedClearly()
    {
        EmuSupport.RequireLibrary();
        var emu = Devices.Get("emu");
        using var x = emu.Allocate(DType.F64, 4, zero: true);
        using var y = emu.Allocate(DType.F64, 4);
        var e = Assert.Throws<NotSupportedException>(() =>
            emu.Kernels.Get<IActivation>().Forward(ActivationKind.Tanh, 0, 4, x, y))!;
        Assert.That(e.Message, Does.Contain("float32 only").And.Contain("float64"));
    }

    [Test]
    public void CpuBuffersAreRefusedClearly()
    {
        EmuSupport.RequireLibrary();
        var emu = Devices.Get("emu");
        using var x = Device.Cpu.Allocate(DType.F32, 4, zero: true);
        using var y = emu.Allocate(DType.F32, 4);
        var e = Assert.Throws<ArgumentException>(() =>
            emu.Kernels.Get<IActivation>().Forward(ActivationKind.Relu, 0, 4, x, y))!;
        Assert.That(e.Message, Does.Contain("cpu").And.Contain("emu"));
    }

    [Test]
    public void BuffersCountTheirBytesAndFreeThem()
    {
        EmuSupport.RequireLibrary();
        var emu = Devices.Get("emu");
        long before = emu.Memory.AllocatedBytes;
        var b = emu.Allocate(DType.F32, 1001);
        Assert.That(emu.Memory.AllocatedBytes - before, Is.EqualTo(4004));
        b.Dispose();
        Assert.That(emu.Memory.AllocatedBytes, Is.EqualTo(before));
        Assert.Throws<ObjectDisposedException>(() => _ = ((EmuBuffer)b).Pointer);
    }

    [Test]
    public void LookupOrderStartsWithTheEnvironmentVariable()
    {
        var old = Environment.GetEnvironmentVariable(EmuNative.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(EmuNative.EnvironmentVariable, "/nonexistent/libkernels_emu.so");
            var c = EmuNative.Candidates();
            Assert.That(c[0], Is.EqualTo("/nonexistent/libkernels_emu.so"));
            Assert.That(c[^1], Is.EqualTo(Path.Combine(AppContext.BaseDirectory, EmuNative.FileName)));
        }
        finally
        {
            Environment.SetEnvironmentVariable(EmuNative.EnvironmentVariable, old);
        }
    }

    private static float[] Poison(int n) => Enumerable.Repeat(float.NaN, n).ToArray();

    private static DeviceBuffer Upload(Device d, float[] data)
    {
        var b = d.Allocate(DType.F32, data.Length);
        d.Upload<float>(data, b);
        return b;
    }

    private static float[] Download(Device d, DeviceBuffer b, int n)
    {
        var a = new float[n];
        d.Download<float>(b, a);
        return a;
    }
}
