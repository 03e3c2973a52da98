using System.Runtime.InteropServices;

namespace Kernels.Bindings.Cuda;

/// <summary>Base of every CUDA handle. Released deterministically by Dispose. A handle that
/// reaches its finalizer undisposed is NOT freed there (no CUDA call from the finalizer thread,
/// whose context state is unknown): it is counted in <see cref="CudaDriver.LeakedHandles"/> so
/// leaks show up instead of hiding behind the garbage collector.</summary>
public abstract class CudaHandle : SafeHandle
{
    /// <summary>The context the resource belongs to (0 for the context handle itself).</summary>
    public nint Context { get; }

    protected CudaHandle(nint handle, nint context) : base(0, ownsHandle: true)
    {
        SetHandle(handle);
        Context = context;
    }

    public override bool IsInvalid => handle == 0;

    protected override void Dispose(bool disposing)
    {
        if (!disposing && !IsInvalid && !IsClosed)
        {
            Interlocked.Increment(ref CudaDriver.s_leaked);
            SetHandleAsInvalid();
        }
        base.Dispose(disposing);
    }

    /// <summary>Runs a release call with the owning context current, restoring the thread's
    /// previous one. Returns false (and records why) instead of throwing.</summary>
    private protected unsafe bool ReleaseIn(string call, Func<nint, int> release)
    {
        try
        {
            // A handle with no context (a cuBLAS handle made while the driver was down) touches
            // only its own library.
            var api = Context != 0 ? CudaDriver.Api : null;
            bool pushed = api is not null && api.CtxPushCurrent(Context) == 0;
            int rc = release(handle);
            if (pushed)
            {
                nint popped;
                api!.CtxPopCurrent(&popped);
            }
            if (rc != 0) CudaDriver.LastReleaseError = CudaDriver.Message(call, rc);
            return rc == 0;
        }
        catch (Exception e)
        {
            // ReleaseHandle must not throw (it may run from Dispose in a finally block).
            CudaDriver.LastReleaseError = $"{call}: {e.Message}";
            return false;
        }
    }

    /// <summary>The current context (where the next resource is created).</summary>
    internal static unsafe nint CurrentContext()
    {
        nint ctx;
        CudaDriver.Check(CudaDriver.Api.CtxGetCurrent(&ctx), "cuCtxGetCurrent");
        if (ctx == 0)
            throw new CudaException("cuCtxGetCurrent", 201,
                "no CUDA context is current on this thread: call CudaDriver.RetainPrimaryContext (or SetCurrent) first");
        return ctx;
    }
}

/// <summary>A retained primary context. Dispose releases the retain (the context is destroyed
/// when its last retain goes, freeing whatever memory is still in it: dispose memory, streams and
/// modules first).</summary>
public sealed unsafe class CudaContext : CudaHandle
{
    public int Device { get; }

    internal CudaContext(nint ctx, int device) : base(ctx, 0) => Device = device;

    /// <summary>Makes this context current on the calling thread.</summary>
    public void SetCurrent() => CudaDriver.Check(CudaDriver.Api.CtxSetCurrent(handle), "cuCtxSetCurrent");

    protected override bool ReleaseHandle() => ReleaseIn("cuDevicePrimaryCtxRelease", _ => CudaDriver.Api.PrimaryCtxRelease(Device));
}

/// <summary>Device memory from cuMemAlloc_v2 in the current context.</summary>
public sealed unsafe class CudaDeviceMemory : CudaHandle
{
    /// <summary>The device address (CUdeviceptr).</summary>
    public ulong Pointer => (ulong)handle;

    public long Bytes { get; }

    private CudaDeviceMemory(ulong ptr, long bytes, nint ctx) : base((nint)ptr, ctx) => Bytes = bytes;

    public static CudaDeviceMemory Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        var ctx = CurrentContext();
        ulong ptr;
        int rc = CudaDriver.Api.MemAlloc(&ptr, (nuint)bytes);
        if (rc != 0) throw new CudaException("cuMemAlloc_v2", rc, $"{CudaDriver.Message("cuMemAlloc_v2", rc)} (requested {bytes} bytes)");
        return new CudaDeviceMemory(ptr, bytes, ctx);
    }

    protected override bool ReleaseHandle() => ReleaseIn("cuMemFree_v2", h => CudaDriver.Api.MemFree((ulong)h));
}

/// <summary>Page-locked host memory (cuMemHostAlloc): the only host memory an async copy really
/// overlaps with. Keep it alive until the stream that uses it is synchronised.</summary>
public sealed unsafe class CudaPinnedMemory : CudaHandle
{
    /// <summary>cuMemHostAlloc flags.</summary>
    public const uint Portable = 1, DeviceMap = 2, WriteCombined = 4;

    public nint Pointer => handle;

    public long Bytes { get; }

    private CudaPinnedMemory(nint ptr, long bytes, nint ctx) : base(ptr, ctx) => Bytes = bytes;

    public static CudaPinnedMemory Allocate(long bytes, uint flags = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        var ctx = CurrentContext();
        void* p;
        CudaDriver.Check(CudaDriver.Api.MemHostAlloc(&p, (nuint)bytes, flags), "cuMemHostAlloc");
        return new CudaPinnedMemory((nint)p, bytes, ctx);
    }

    public Span<T> AsSpan<T>() where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        return new Span<T>((void*)handle, checked((int)(Bytes / sizeof(T))));
    }

    protected override bool ReleaseHandle() => ReleaseIn("cuMemFreeHost", h => CudaDriver.Api.MemFreeHost((void*)h));
}

/// <summary>A CUDA event, for ordering and timing.</summary>
public sealed unsafe class CudaEvent : CudaHandle
{
    /// <summary>cuEventCreate flags.</summary>
    public const uint BlockingSync = 1, DisableTiming = 2;

    private CudaEvent(nint ev, nint ctx) : base(ev, ctx) { }

    public static CudaEvent Create(uint flags = 0)
    {
        var ctx = CurrentContext();
        nint ev;
        CudaDriver.Check(CudaDriver.Api.EventCreate(&ev, flags), "cuEventCreate");
        return new CudaEvent(ev, ctx);
    }

    public void Record(CudaStream stream) => CudaDriver.Check(CudaDriver.Api.EventRecord(handle, stream.DangerousGetHandle()), "cuEventRecord");

    public void Synchronize() => CudaDriver.Check(CudaDriver.Api.EventSynchronize(handle), "cuEventSynchronize");

    /// <summary>Milliseconds between two recorded (and completed) events.</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        float ms;
        CudaDriver.Check(CudaDriver.Api.EventElapsedTime(&ms, start.DangerousGetHandle(), end.DangerousGetHandle()), "cuEventElapsedTime");
        return ms;
    }

    protected override bool ReleaseHandle() => ReleaseIn("cuEventDestroy_v2", h => CudaDriver.Api.EventDestroy(h));
}
