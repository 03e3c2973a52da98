using System.Runtime.InteropServices;
using System.Text;

namespace Kernels.Bindings.Cuda;

public sealed record CudaDeviceInfo(int Ordinal, string Name, long TotalMemoryBytes, int ComputeMajor, int ComputeMinor);

/// <summary>Finds the CUDA driver and lists its devices without throwing: on a machine with no
/// driver or no GPU it reports exactly why. Loads libcuda.so.1 (the name a driver install
/// provides; libcuda.so exists only with the development symlink).</summary>
public static unsafe class CudaDriverProbe
{
    public static readonly string[] LibraryNames = OperatingSystem.IsWindows()
        ? ["nvcuda.dll"]
        : ["libcuda.so.1", "libcuda.so"];

    private static readonly Lazy<(bool Ok, string Reason, IReadOnlyList<CudaDeviceInfo> Devices, int DriverVersion)> s_result = new(Run);

    public static bool IsAvailable => s_result.Value.Ok;

    /// <summary>Why CUDA is not usable ("" when it is).</summary>
    public static string Reason => s_result.Value.Reason;

    public static IReadOnlyList<CudaDeviceInfo> Devices => s_result.Value.Devices;

    /// <summary>The driver's CUDA version as 1000·major + 10·minor, 0 when unknown.</summary>
    public static int DriverVersion => s_result.Value.DriverVersion;

    private static (bool, string, IReadOnlyList<CudaDeviceInfo>, int) Run()
    {
        var tried = new List<string>();
        nint lib = 0;
        foreach (var name in LibraryNames)
        {
            if (NativeLibrary.TryLoad(name, out lib)) break;
            tried.Add(name);
        }
        if (lib == 0)
            return (false, $"no CUDA driver: could not load {string.Join(" or ", tried)} (no NVIDIA driver installed)", [], 0);
        try
        {
            var cuInit = (delegate* unmanaged<uint, int>)Export(lib, "cuInit");
            var cuDriverGetVersion = (delegate* unmanaged<int*, int>)Export(lib, "cuDriverGetVersion");
            var cuDeviceGetCount = (delegate* unmanaged<int*, int>)Export(lib, "cuDeviceGetCount");
            var cuDeviceGet = (delegate* unmanaged<int*, int, int>)Export(lib, "cuDeviceGet");
            var cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)Export(lib, "cuDeviceGetName");
            var cuDeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)Export(lib, "cuDeviceTotalMem_v2");
            var cuDeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)Export(lib, "cuDeviceGetAttribute");
            int rc = cuInit(0);
            if (rc != 0) return (false, $"the CUDA driver loaded but cuInit failed with error {rc} ({Describe(rc)})", [], 0);
            int version = 0;
            cuDriverGetVersion(&version);
            int count = 0;
            rc = cuDeviceGetCount(&count);
            if (rc != 0) return (false, $"cuDeviceGetCount failed with error {rc} ({Describe(rc)})", [], version);
            if (count == 0) return (false, "the CUDA driver reports no devices", [], version);
            var devices = new List<CudaDeviceInfo>();
            var nameBuf = stackalloc byte[256];
            for (int i = 0; i < count; i++)
            {
                int dev;
                cuDeviceGet(&dev, i);
                cuDeviceGetName(nameBuf, 256, dev);
                nuint mem;
                cuDeviceTotalMem(&mem, dev);
                int major, minor;
                cuDeviceGetAttribute(&major, 75, dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
                cuDeviceGetAttribute(&minor, 76, dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
                var name = Encoding.UTF8.GetString(new ReadOnlySpan<byte>(nameBuf, 256)).TrimEnd('\0');
                devices.Add(new CudaDeviceInfo(i, name, (long)mem, major, minor));
            }
            return (true, "", devices, version);
        }
        catch (EntryPointNotFoundException e)
        {
            return (false, $"the CUDA driver library lacks an entry point: {e.Message}", [], 0);
        }
    }

    private static nint Export(nint lib, string name) =>
        NativeLibrary.TryGetExport(lib, name, out var p) ? p : throw new EntryPointNotFoundException(name);

    private static string Describe(int rc) => rc switch
    {
        100 => "CUDA_ERROR_NO_DEVICE",
        35 => "CUDA_ERROR_INSUFFICIENT_DRIVER",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => "see cuda.h",
    };
}
