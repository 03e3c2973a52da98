using Kernels.Nets;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Gpu;

/// <summary>KernelProfiler on cuda: the stream hook sees native launches, CUDA events time them,
/// cuBLAS calls and cache hits are counted (Ignored where there is no GPU).</summary>
[Category("Gpu")]
public class KernelProfilerGpuTests
{
    [Test]
    public void CudaAddIsOneTimedLaunchAndAMatMulOneCublasCall()
    {
        var d = GpuSupport.RequireCuda();
        using var a = Tensor.FromArray(GpuSupport.Uniform(4096, 1), [64, 64], d);
        using var b = Tensor.FromArray(GpuSupport.Uniform(4096, 2), [64, 64], d);
        F.Add(a, b).Dispose(); // warm: the module is loaded, the size class cached
        ProfileReport report;
        using (var session = KernelProfiler.Start(d))
        {
            using var y = F.Add(a, b);
            using var z = F.MatMul(a, b);
            report = session.Stop();
        }
        var text = string.Join("\n", report.Rows.Select(r => $"{r.Kind} {r.Name} {r.Calls} host {r.HostMs:0.000} dev {r.DeviceMs:0.000}"));
        TestContext.Out.WriteLine(text);
        Assert.That(report.CallsOf(ProfiledKind.Kernel), Is.EqualTo(1), text);
        Assert.That(report.CallsOf(ProfiledKind.Cublas), Is.EqualTo(1), text);
        Assert.That(report.CallsOf(ProfiledKind.Synchronize), Is.EqualTo(0), text);
        Assert.That(report.CallsOf(ProfiledKind.Allocation) + report.CallsOf(ProfiledKind.AllocationMiss), Is.EqualTo(2), text);
        var kernel = report.Rows.Single(r => r.Kind == ProfiledKind.Kernel);
        Assert.That(kernel.DeviceMs, Is.GreaterThan(0), text);
        Assert.That(CudaStreamObserverIsOff(), Is.True);
    }

    private static bool CudaStreamObserverIsOff() => Kernels.Bindings.Cuda.CudaStream.Observer is null;
}
