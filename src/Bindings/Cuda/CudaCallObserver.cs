namespace Kernels.Bindings.Cuda;

/// <summary>What a <see cref="CudaStream"/> call was, for a profiler.</summary>
public enum CudaCallKind : byte
{
    Kernel,
    CopyHostToDevice,
    CopyDeviceToHost,
    CopyDeviceToDevice,
    Memset,
    Synchronize,
}

/// <summary>Sees every kernel launch, copy, memset and synchronisation of every
/// <see cref="CudaStream"/> while installed in <see cref="CudaStream.Observer"/> (the engine's
/// KernelProfiler). Null (the default) costs one static read per call.</summary>
public interface ICudaCallObserver
{
    /// <summary>Called before the call is issued; the value returned is passed to <see cref="End"/>.</summary>
    int Begin(CudaStream stream, CudaCallKind kind, string name);

    /// <summary>Called after the call was issued (or failed).</summary>
    void End(int token);
}

/// <summary>CUDA events for timing work on a stream (cuEventCreate / Record / ElapsedTime).
/// Handles are raw: the caller destroys them in the context they were created in.</summary>
public static unsafe class CudaEvents
{
    /// <summary>An event with timing enabled (flags 0: CU_EVENT_DEFAULT).</summary>
    public static nint Create()
    {
        nint e;
        CudaDriver.Check(CudaDriver.Api.EventCreate(&e, 0), "cuEventCreate");
        return e;
    }

    public static void Record(nint ev, CudaStream stream) =>
        CudaDriver.Check(CudaDriver.Api.EventRecord(ev, stream.DangerousGetHandle()), "cuEventRecord");

    public static void Synchronize(nint ev) => CudaDriver.Check(CudaDriver.Api.EventSynchronize(ev), "cuEventSynchronize");

    /// <summary>Milliseconds between two recorded, completed events.</summary>
    public static float ElapsedMs(nint start, nint end)
    {
        float ms;
        CudaDriver.Check(CudaDriver.Api.EventElapsedTime(&ms, start, end), "cuEventElapsedTime");
        return ms;
    }

    public static void Destroy(nint ev) => CudaDriver.Check(CudaDriver.Api.EventDestroy(ev), "cuEventDestroy_v2");
}
