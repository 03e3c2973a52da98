using Kernels.Bindings.Cuda;

namespace Kernels.Ilgpu;

/// <summary>Launch geometry and argument checks shared by the Ilgpu implementations.</summary>
public static class IlgpuLaunch
{
    /// <summary>Threads per group for 1-D grid-stride kernels.</summary>
    public const int Threads = 256;

    /// <summary>Cap on groups of a 1-D grid-stride launch: enough to fill an H100 (132 SMs × 16),
    /// and few enough that ilgpu-cpu does not simulate idle groups.</summary>
    public const int MaxGroups = 2048;

    public static Dim3 Block1D => new(Threads);

    /// <summary>Groups for a grid-stride loop over <paramref name="n"/> elements.</summary>
    public static Dim3 Grid1D(long n, int threads = Threads) =>
        new((uint)Math.Clamp((n + threads - 1) / threads, 1, MaxGroups));

    /// <summary>The Ilgpu kernels are float32 (float64 is the cpu device's, for gradient checks).</summary>
    public static void RequireF32(string op, params ReadOnlySpan<DeviceBuffer> buffers)
    {
        foreach (var b in buffers)
            if (b.DType != DType.F32)
                throw new NotSupportedException(
                    $"{op}: the ilgpu kernels are float32 only, got a {b.DType.Name()} buffer; run float64 on the cpu device");
    }
}
