using System.Runtime.InteropServices;
using System.Text;

namespace Kernels.Bindings.Cuda;

/// <summary>Device attributes used by the engine (values of CUdevice_attribute).</summary>
public enum CudaDeviceAttribute
{
    MaxThreadsPerBlock = 1,
    MaxSharedMemoryPerBlock = 8,
    WarpSize = 10,
    MultiprocessorCount = 16,
    ComputeCapabilityMajor = 75,
    ComputeCapabilityMinor = 76,
    MaxSharedMemoryPerBlockOptin = 97,
}

/// <summary>Function attributes (values of CUfunction_attribute).</summary>
public enum CudaFunctionAttribute
{
    MaxThreadsPerBlock = 0,
    SharedSizeBytes = 1,
    ConstSizeBytes = 2,
    LocalSizeBytes = 3,
    NumRegisters = 4,
    PtxVersion = 5,
    BinaryVersion = 6,
}

/// <summary>Thin binding of the CUDA driver API (libcuda). Nothing here throws at startup: the
/// library is loaded and cuInit called on first use, and <see cref="TryInitialize"/> reports why
/// CUDA is unusable. Every other call checks its CUresult and throws <see cref="CudaException"/>
/// naming the call and the driver's error name and text.</summary>
public static unsafe partial class CudaDriver
{
    public static readonly VersionedLibrary Library = new("the CUDA driver (libcuda)",
        OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"]);

    private static readonly Lazy<(CudaApi? Api, string Reason)> s_api = new(LoadApi);
    private static readonly Lazy<(bool Ok, string Reason)> s_init = new(RunInit);

    private static (CudaApi?, string) LoadApi()
    {
        if (!Library.IsLoaded) return (null, Library.Reason);
        try
        {
            return (new CudaApi(Library), "");
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, $"the CUDA driver library is too old or incomplete: {e.Message}");
        }
    }

    private static (bool, string) RunInit()
    {
        var api = s_api.Value.Api;
        if (api is null) return (false, s_api.Value.Reason);
        int rc = api.Init(0);
        return rc == 0 ? (true, "") : (false, $"the CUDA driver ({Library.LoadedName}) loaded but {Message("cuInit", rc)}");
    }

    internal static CudaApi Api
    {
        get
        {
            var (ok, reason) = s_init.Value;
            if (!ok) throw new CudaException("cuInit", -1, $"CUDA is unavailable: {reason}");
            return s_api.Value.Api!;
        }
    }

    /// <summary>Loads the driver and calls cuInit once; false with the reason when unusable.
    /// Never throws.</summary>
    public static bool TryInitialize(out string reason)
    {
        (bool ok, reason) = s_init.Value;
        return ok;
    }

    /// <summary>Throws <see cref="CudaException"/> unless the driver initialised.</summary>
    public static void Initialize() => _ = Api;

    /// <summary>Throws <see cref="CudaException"/> for a non-zero result.</summary>
    internal static void Check(int rc, string call)
    {
        if (rc != 0) throw new CudaException(call, rc, Message(call, rc));
    }

    /// <summary>"call failed: NAME (code): text", asking the driver for name and text when it is
    /// loaded and falling back to <see cref="CudaErrors"/>.</summary>
    public static string Message(string call, int rc)
    {
        string? name = null, text = null;
        var api = s_api.Value.Api;
        if (api is not null)
        {
            byte* p = null;
            if (api.GetErrorName(rc, &p) == 0 && p != null) name = Marshal.PtrToStringUTF8((nint)p);
            p = null;
            if (api.GetErrorString(rc, &p) == 0 && p != null) text = Marshal.PtrToStringUTF8((nint)p);
        }
        return CudaErrors.Format(call, rc, name, text);
    }

    /// <summary>The driver's CUDA version as 1000·major + 10·minor.</summary>
    public static int DriverVersion
    {
        get
        {
            int v;
            Check(Api.DriverGetVersion(&v), "cuDriverGetVersion");
            return v;
        }
    }

    public static int DeviceCount
    {
        get
        {
            int n;
            Check(Api.DeviceGetCount(&n), "cuDeviceGetCount");
            return n;
        }
    }

    /// <summary>The CUdevice for an ordinal.</summary>
    public static int GetDevice(int ordinal)
    {
        int dev;
        Check(Api.DeviceGet(&dev, ordinal), "cuDeviceGet");
        return dev;
    }

    public static string GetDeviceName(int device)
    {
        byte* buf = stackalloc byte[256];
        Check(Api.DeviceGetName(buf, 256, device), "cuDeviceGetName");
        return Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(buf));
    }

    public static int GetAttribute(int device, CudaDeviceAttribute attribute)
    {
        int v;
        Check(Api.DeviceGetAttribute(&v, (int)attribute, device), "cuDeviceGetAttribute");
        return v;
    }

    public static long GetTotalMemory(int device)
    {
        nuint bytes;
        Check(Api.DeviceTotalMem(&bytes, device), "cuDeviceTotalMem_v2");
        return (long)bytes;
    }

    /// <summary>Retains the device's primary context (the one the runtime API and libraries such
    /// as cuBLAS share) and makes it current on this thread. Dispose releases it.</summary>
    public static CudaContext RetainPrimaryContext(int device)
    {
        var api = Api;
        nint ctx;
        Check(api.PrimaryCtxRetain(&ctx, device), "cuDevicePrimaryCtxRetain");
        var handle = new CudaContext(ctx, device);
        try
        {
            handle.SetCurrent();
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        return handle;
    }

    /// <summary>cuMemAlloc_v2 in the current context: false on CUDA_ERROR_OUT_OF_MEMORY (2), an
    /// exception naming the call for any other failure. For allocators that own their blocks
    /// (no handle object per block).</summary>
    public static bool TryMemAlloc(long bytes, out ulong pointer)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        ulong p;
        int rc = Api.MemAlloc(&p, (nuint)bytes);
        pointer = p;
        if (rc == 2) return false;
        if (rc != 0) throw new CudaException("cuMemAlloc_v2", rc, $"{Message("cuMemAlloc_v2", rc)} (requested {bytes} bytes)");
        return true;
    }

    /// <summary>cuMemFree_v2 of a pointer from <see cref="TryMemAlloc"/>.</summary>
    public static void MemFree(ulong pointer) => Check(Api.MemFree(pointer), "cuMemFree_v2");

    /// <summary>Waits for all work of the current context.</summary>
    public static void Synchronize() => Check(Api.CtxSynchronize(), "cuCtxSynchronize");

    /// <summary>Number of handles that reached their finalizer undisposed. Their native resource
    /// was NOT freed (the finalizer thread has no business touching a CUDA context); a non-zero
    /// value is a leak to fix in the caller.</summary>
    public static long LeakedHandles => Interlocked.Read(ref s_leaked);

    /// <summary>The last failure while freeing a handle ("" when none): release cannot throw, so
    /// it is recorded here instead of being lost.</summary>
    public static string LastReleaseError { get; internal set; } = "";

    internal static long s_leaked;
}
