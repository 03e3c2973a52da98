using Kernels.Bindings.Cuda;

namespace Kernels.Tests.Gpu;

internal static class GpuSupport
{
    /// <summary>cuda:0, or the test is ignored with the reason (no driver, no device). Call at the top of a test body.</summary>
    public static CudaDevice RequireCuda()
    {
        if (!CudaDriverProbe.IsAvailable) Assert.Ignore($"no CUDA GPU: {CudaDriverProbe.Reason}");
        return (CudaDevice)Devices.Get("cuda:0");
    }

    public static float[] Uniform(int n, int seed, float lo = -1, float hi = 1)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (float)r.NextDouble() * (hi - lo);
        return a;
    }
}
