namespace Kernels.Bindings.Cuda;

/// <summary>The driver entry points, resolved once from the loaded library. Function pointers
/// (not LibraryImport) because the library name is only known at run time (versioned names,
/// first that loads wins) and a missing library must not fail at type load. Each export is the
/// versioned symbol cuda.h maps the plain name to (e.g. cuMemAlloc → cuMemAlloc_v2).</summary>
internal sealed unsafe class CudaApi
{
    public readonly delegate* unmanaged<uint, int> Init;
    public readonly delegate* unmanaged<int*, int> DriverGetVersion;
    public readonly delegate* unmanaged<int, byte**, int> GetErrorName;
    public readonly delegate* unmanaged<int, byte**, int> GetErrorString;
    public readonly delegate* unmanaged<int*, int> DeviceGetCount;
    public readonly delegate* unmanaged<int*, int, int> DeviceGet;
    public readonly delegate* unmanaged<byte*, int, int, int> DeviceGetName;
    public readonly delegate* unmanaged<int*, int, int, int> DeviceGetAttribute;
    public readonly delegate* unmanaged<nuint*, int, int> DeviceTotalMem;
    public readonly delegate* unmanaged<nint*, int, int> PrimaryCtxRetain;
    public readonly delegate* unmanaged<int, int> PrimaryCtxRelease;
    public readonly delegate* unmanaged<nint, int> CtxSetCurrent;
    public readonly delegate* unmanaged<nint*, int> CtxGetCurrent;
    public readonly delegate* unmanaged<nint, int> CtxPushCurrent;
    public readonly delegate* unmanaged<nint*, int> CtxPopCurrent;
    public readonly delegate* unmanaged<int> CtxSynchronize;
    public readonly delegate* unmanaged<ulong*, nuint, int> MemAlloc;
    public readonly delegate* unmanaged<ulong, int> MemFree;
    public readonly delegate* unmanaged<ulong, void*, nuint, nint, int> MemcpyHtoDAsync;
    public readonly delegate* unmanaged<void*, ulong, nuint, nint, int> MemcpyDtoHAsync;
    public readonly delegate* unmanaged<ulong, ulong, nuint, nint, int> MemcpyDtoDAsync;
    public readonly delegate* unmanaged<ulong, byte, nuint, nint, int> MemsetD8Async;
    public readonly delegate* unmanaged<ulong, uint, nuint, nint, int> MemsetD32Async;
    public readonly delegate* unmanaged<void**, nuint, uint, int> MemHostAlloc;
    public readonly delegate* unmanaged<void*, int> MemFreeHost;
    public readonly delegate* unmanaged<nint*, uint, int> StreamCreate;
    public readonly delegate* unmanaged<nint, int> StreamDestroy;
    public readonly delegate* unmanaged<nint, int> StreamSynchronize;
    public readonly delegate* unmanaged<nint*, uint, int> EventCreate;
    public readonly delegate* unmanaged<nint, nint, int> EventRecord;
    public readonly delegate* unmanaged<nint, int> EventSynchronize;
    public readonly delegate* unmanaged<float*, nint, nint, int> EventElapsedTime;
    public readonly delegate* unmanaged<nint, int> EventDestroy;
    public readonly delegate* unmanaged<nint*, void*, uint, int*, void**, int> ModuleLoadDataEx;
    public readonly delegate* unmanaged<nint, int> ModuleUnload;
    public readonly delegate* unmanaged<nint*, nint, byte*, int> ModuleGetFunction;
    public readonly delegate* unmanaged<int*, int, nint, int> FuncGetAttribute;
    public readonly delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int> LaunchKernel;

    public CudaApi(VersionedLibrary lib)
    {
        Init = (delegate* unmanaged<uint, int>)lib.Export("cuInit");
        DriverGetVersion = (delegate* unmanaged<int*, int>)lib.Export("cuDriverGetVersion");
        GetErrorName = (delegate* unmanaged<int, byte**, int>)lib.Export("cuGetErrorName");
        GetErrorString = (delegate* unmanaged<int, byte**, int>)lib.Export("cuGetErrorString");
        DeviceGetCount = (delegate* unmanaged<int*, int>)lib.Export("cuDeviceGetCount");
        DeviceGet = (delegate* unmanaged<int*, int, int>)lib.Export("cuDeviceGet");
        DeviceGetName = (delegate* unmanaged<byte*, int, int, int>)lib.Export("cuDeviceGetName");
        DeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)lib.Export("cuDeviceGetAttribute");
        DeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)lib.Export("cuDeviceTotalMem_v2");
        PrimaryCtxRetain = (delegate* unmanaged<nint*, int, int>)lib.Export("cuDevicePrimaryCtxRetain");
        // _v2 since CUDA 11; the plain name is the CUDA 10 one with the same meaning.
        var release = lib.TryExport("cuDevicePrimaryCtxRelease_v2");
        PrimaryCtxRelease = (delegate* unmanaged<int, int>)(release != 0 ? release : lib.Export("cuDevicePrimaryCtxRelease"));
        CtxSetCurrent = (delegate* unmanaged<nint, int>)lib.Export("cuCtxSetCurrent");
        CtxGetCurrent = (delegate* unmanaged<nint*, int>)lib.Export("cuCtxGetCurrent");
        CtxPushCurrent = (delegate* unmanaged<nint, int>)lib.Export("cuCtxPushCurrent_v2");
        CtxPopCurrent = (delegate* unmanaged<nint*, int>)lib.Export("cuCtxPopCurrent_v2");
        CtxSynchronize = (delegate* unmanaged<int>)lib.Export("cuCtxSynchronize");
        MemAlloc = (delegate* unmanaged<ulong*, nuint, int>)lib.Export("cuMemAlloc_v2");
        MemFree = (delegate* unmanaged<ulong, int>)lib.Export("cuMemFree_v2");
        MemcpyHtoDAsync = (delegate* unmanaged<ulong, void*, nuint, nint, int>)lib.Export("cuMemcpyHtoDAsync_v2");
        MemcpyDtoHAsync = (delegate* unmanaged<void*, ulong, nuint, nint, int>)lib.Export("cuMemcpyDtoHAsync_v2");
        MemcpyDtoDAsync = (delegate* unmanaged<ulong, ulong, nuint, nint, int>)lib.Export("cuMemcpyDtoDAsync_v2");
        MemsetD8Async = (delegate* unmanaged<ulong, byte, nuint, nint, int>)lib.Export("cuMemsetD8Async");
        MemsetD32Async = (delegate* unmanaged<ulong, uint, nuint, nint, int>)lib.Export("cuMemsetD32Async");
        MemHostAlloc = (delegate* unmanaged<void**, nuint, uint, int>)lib.Export("cuMemHostAlloc");
        MemFreeHost = (delegate* unmanaged<void*, int>)lib.Export("cuMemFreeHost");
        StreamCreate = (delegate* unmanaged<nint*, uint, int>)lib.Export("cuStreamCreate");
        StreamDestroy = (delegate* unmanaged<nint, int>)lib.Export("cuStreamDestroy_v2");
        StreamSynchronize = (delegate* unmanaged<nint, int>)lib.Export("cuStreamSynchronize");
        EventCreate = (delegate* unmanaged<nint*, uint, int>)lib.Export("cuEventCreate");
        EventRecord = (delegate* unmanaged<nint, nint, int>)lib.Export("cuEventRecord");
        EventSynchronize = (delegate* unmanaged<nint, int>)lib.Export("cuEventSynchronize");
        EventElapsedTime = (delegate* unmanaged<float*, nint, nint, int>)lib.Export("cuEventElapsedTime");
        EventDestroy = (delegate* unmanaged<nint, int>)lib.Export("cuEventDestroy_v2");
        ModuleLoadDataEx = (delegate* unmanaged<nint*, void*, uint, int*, void**, int>)lib.Export("cuModuleLoadDataEx");
        ModuleUnload = (delegate* unmanaged<nint, int>)lib.Export("cuModuleUnload");
        ModuleGetFunction = (delegate* unmanaged<nint*, nint, byte*, int>)lib.Export("cuModuleGetFunction");
        FuncGetAttribute = (delegate* unmanaged<int*, int, nint, int>)lib.Export("cuFuncGetAttribute");
        LaunchKernel = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int>)lib.Export("cuLaunchKernel");
    }
}
