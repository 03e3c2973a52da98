namespace Kernels.Bindings.Cuda;

public sealed record CudaDeviceInfo(int Ordinal, string Name, long TotalMemoryBytes, int ComputeMajor, int ComputeMinor);

/// <summary>Finds the CUDA driver and lists its devices without throwing: on a machine with no
/// driver or no GPU it reports exactly why. Loads libcuda.so.1 (the name a driver install
/// provides; libcuda.so exists only with the development symlink). Built on <see cref="CudaDriver"/>.</summary>
public static class CudaDriverProbe
{
    public static string[] LibraryNames => [.. CudaDriver.Library.Names];

    private static readonly Lazy<(bool Ok, string Reason, IReadOnlyList<CudaDeviceInfo> Devices, int DriverVersion)> s_result = new(Run);

    public static bool IsAvailable => s_result.Value.Ok;

    /// <summary>Why CUDA is not usable ("" when it is).</summary>
    public static string Reason => s_result.Value.Reason;

    public static IReadOnlyList<CudaDeviceInfo> Devices => s_result.Value.Devices;

    /// <summary>The driver's CUDA version as 1000·major + 10·minor, 0 when unknown.</summary>
    public static int DriverVersion => s_result.Value.DriverVersion;

    private static (bool, string, IReadOnlyList<CudaDeviceInfo>, int) Run()
    {
        if (!CudaDriver.TryInitialize(out var reason)) return (false, reason, [], 0);
        int version = 0;
        try
        {
            version = CudaDriver.DriverVersion;
            int count = CudaDriver.DeviceCount;
            if (count == 0) return (false, "the CUDA driver reports no devices", [], version);
            var devices = new List<CudaDeviceInfo>();
            for (int i = 0; i < count; i++)
            {
                int dev = CudaDriver.GetDevice(i);
                devices.Add(new CudaDeviceInfo(i, CudaDriver.GetDeviceName(dev), CudaDriver.GetTotalMemory(dev),
                    CudaDriver.GetAttribute(dev, CudaDeviceAttribute.ComputeCapabilityMajor),
                    CudaDriver.GetAttribute(dev, CudaDeviceAttribute.ComputeCapabilityMinor)));
            }
            return (true, "", devices, version);
        }
        catch (CudaException e)
        {
            return (false, e.Message, [], version);
        }
    }
}
