using Kernels.Ops.AsymmetricLoss;

namespace Kernels.Tests.Native;

/// <summary>The float32 kernels (native on emu, ILGPU on its CPU accelerator) at saturating
/// logits: the self-test treats an infinity or NaN on both sides as equal, so finiteness is
/// asserted here, against the cpu float64 reference; and the two-stage sum is deterministic.</summary>
public class AsymmetricLossDeviceTests
{
    private static Device Resolve(string name)
    {
        if (name == "emu")
        {
            EmuSupport.RequireLibrary();
            return EmuDevice.Instance;
        }
        return Kernels.Ilgpu.IlgpuCpuDevice.Instance;
    }

    private static readonly AslOptions[] s_options =
    [
        AslOptions.Recipe,
        AslOptions.Recipe with { FocusingWeightConstant = false, Mean = true },
        new AslOptions(GammaPos: 2, GammaNeg: 2, Clip: 0, FocusingWeightConstant: false),
        new AslOptions(GammaPos: 0.5, GammaNeg: 0.5, Clip: 0, FocusingWeightConstant: false, GammaUnannotated: 0.1, Mean: true),
    ];

    [TestCase("emu"), TestCase("ilgpu-cpu")]
    public void SaturatingLogitsGiveFiniteLossAndGradientEqualToTheReference(string deviceName)
    {
        var device = Resolve(deviceName);
        const int rows = 3, cols = 13, n = rows * cols;
        double[] extreme = [1e4, -1e4, 100, -100, 88, -88, 30, -30, 0, 17, -17, 1e-3, 5];
        var x = new double[n];
        var y = new double[n];
        var w = new double[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = extreme[i % cols];
            y[i] = i / cols - 1; // each row one target kind: −1, 0, 1
            w[i] = i % 7 == 3 ? 0 : 0.5 + (i % 3);
        }
        foreach (var o in s_options)
            foreach (bool weighted in new[] { false, true })
            {
                var (refLoss, refGrad) = Run(Device.Cpu, DType.F64, o, rows, cols, x, y, weighted ? w : null);
                var (loss, grad) = Run(device, DType.F32, o, rows, cols, x, y, weighted ? w : null);
                string what = $"{deviceName} {o} weighted={weighted}";
                Assert.That(double.IsFinite(refLoss) && refGrad.All(double.IsFinite), Is.True, what + ": reference not finite");
                Assert.That(double.IsFinite(loss), Is.True, $"{what}: loss {loss}");
                Assert.That(Math.Abs(loss - refLoss), Is.LessThanOrEqualTo(1e-5 * Math.Max(1, Math.Abs(refLoss))), what + " loss");
                for (int i = 0; i < n; i++)
                {
                    Assert.That(double.IsFinite(grad[i]), Is.True, $"{what}: grad[{i}] = {grad[i]} at x = {x[i]}, y = {y[i]}");
                    Assert.That(Math.Abs(grad[i] - refGrad[i]), Is.LessThanOrEqualTo(1e-5 * Math.Max(1, Math.Abs(refGrad[i]))),
                        $"{what}: grad[{i}] at x = {x[i]}, y = {y[i]}");
                }
            }
    }

    [TestCase("emu"), TestCase("ilgpu-cpu")]
    public void TheSumIsDeterministic(string deviceName)
    {
        var device = Resolve(deviceName);
        const int rows = 7, cols = 333;
        var rng = new Random(5);
        var x = new double[rows * cols];
        var y = new double[rows * cols];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = rng.NextDouble() * 12 - 6;
            y[i] = rng.Next(-1, 2);
        }
        var o = AslOptions.Recipe with { Mean = true };
        double first = Run(device, DType.F32, o, rows, cols, x, y, null).Loss;
        for (int k = 0; k < 3; k++)
            Assert.That(Run(device, DType.F32, o, rows, cols, x, y, null).Loss, Is.EqualTo(first));
        double reference = Run(Device.Cpu, DType.F64, o, rows, cols, x, y, null).Loss;
        Assert.That(first, Is.EqualTo(reference).Within(1e-5 * Math.Abs(reference)));
    }

    private static (double Loss, double[] Grad) Run(Device device, DType dtype, AslOptions o, long rows, long cols, double[] x,
        double[] y, double[]? w)
    {
        int n = x.Length;
        using var xb = Upload(device, dtype, x);
        using var yb = Upload(device, dtype, y);
        using var wb = w is null ? null : Upload(device, dtype, w);
        using var lb = device.Allocate(dtype, 1);
        using var gb = device.Allocate(dtype, n);
        device.Kernels.Get<IAsymmetricLoss>().ForwardBackward(rows, cols, o, xb, yb, wb, lb, gb);
        return (Download(device, lb, 1)[0], Download(device, gb, n));
    }

    private static DeviceBuffer Upload(Device device, DType dtype, double[] data)
    {
        var b = device.Allocate(dtype, data.Length);
        if (dtype == DType.F64) device.Upload<double>(data, b);
        else device.Upload<float>(Array.ConvertAll(data, v => (float)v), b);
        return b;
    }

    private static double[] Download(Device device, DeviceBuffer b, int n)
    {
        if (b.DType == DType.F64)
        {
            var d = new double[n];
            device.Download<double>(b, d);
            return d;
        }
        var f = new float[n];
        device.Download<float>(b, f);
        return Array.ConvertAll(f, v => (double)v);
    }
}
