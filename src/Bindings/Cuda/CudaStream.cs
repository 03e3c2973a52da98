namespace Kernels.Bindings.Cuda;

/// <summary>Grid or block extent.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public static implicit operator Dim3(uint x) => new(x);
}

/// <summary>A CUDA stream of the current context: async copies, memsets and kernel launches.
/// Copies from or to pageable (managed) memory are staged by the driver and return once the
/// host side is done with the span; copies from or to <see cref="CudaPinnedMemory"/> are truly
/// asynchronous, so keep that memory alive until the stream is synchronised.</summary>
public sealed unsafe class CudaStream : CudaHandle
{
    /// <summary>cuStreamCreate flag: no implicit synchronisation with the legacy default stream.</summary>
    public const uint NonBlocking = 1;

    private CudaStream(nint stream, nint ctx) : base(stream, ctx) { }

    /// <summary>Profiler hook: sees every launch, copy, memset and synchronisation (null: off).</summary>
    public static ICudaCallObserver? Observer { get; set; }

    public static CudaStream Create(uint flags = NonBlocking)
    {
        var ctx = CurrentContext();
        nint s;
        CudaDriver.Check(CudaDriver.Api.StreamCreate(&s, flags), "cuStreamCreate");
        return new CudaStream(s, ctx);
    }

    protected override bool ReleaseHandle() => ReleaseIn("cuStreamDestroy_v2", h => CudaDriver.Api.StreamDestroy(h));

    public void Synchronize()
    {
        using var call = Observe(CudaCallKind.Synchronize, "cuStreamSynchronize");
        CudaDriver.Check(CudaDriver.Api.StreamSynchronize(handle), "cuStreamSynchronize");
    }

    public void CopyToDevice<T>(CudaDeviceMemory dst, ReadOnlySpan<T> src, long dstOffsetBytes = 0) where T : unmanaged
    {
        long bytes = (long)src.Length * sizeof(T);
        CheckRange(dst, dstOffsetBytes, bytes, "CopyToDevice");
        fixed (T* p = src) CopyHostToDevice(dst.Pointer + (ulong)dstOffsetBytes, p, bytes);
    }

    public void CopyToHost<T>(Span<T> dst, CudaDeviceMemory src, long srcOffsetBytes = 0) where T : unmanaged
    {
        long bytes = (long)dst.Length * sizeof(T);
        CheckRange(src, srcOffsetBytes, bytes, "CopyToHost");
        fixed (T* p = dst) CopyDeviceToHost(p, src.Pointer + (ulong)srcOffsetBytes, bytes);
    }

    public void CopyHostToDevice(ulong dst, void* src, long bytes)
    {
        using var call = Observe(CudaCallKind.CopyHostToDevice, "cuMemcpyHtoDAsync");
        CudaDriver.Check(CudaDriver.Api.MemcpyHtoDAsync(dst, src, (nuint)bytes, handle), "cuMemcpyHtoDAsync_v2");
    }

    public void CopyDeviceToHost(void* dst, ulong src, long bytes)
    {
        using var call = Observe(CudaCallKind.CopyDeviceToHost, "cuMemcpyDtoHAsync");
        CudaDriver.Check(CudaDriver.Api.MemcpyDtoHAsync(dst, src, (nuint)bytes, handle), "cuMemcpyDtoHAsync_v2");
    }

    public void CopyDeviceToDevice(ulong dst, ulong src, long bytes)
    {
        using var call = Observe(CudaCallKind.CopyDeviceToDevice, "cuMemcpyDtoDAsync");
        CudaDriver.Check(CudaDriver.Api.MemcpyDtoDAsync(dst, src, (nuint)bytes, handle), "cuMemcpyDtoDAsync_v2");
    }

    /// <summary>Sets <paramref name="bytes"/> bytes to <paramref name="value"/>.</summary>
    public void MemsetBytes(ulong dst, byte value, long bytes)
    {
        using var call = Observe(CudaCallKind.Memset, "cuMemsetD8Async");
        CudaDriver.Check(CudaDriver.Api.MemsetD8Async(dst, value, (nuint)bytes, handle), "cuMemsetD8Async");
    }

    /// <summary>Sets <paramref name="count"/> 32-bit words (e.g. a float's bit pattern).</summary>
    public void Memset32(ulong dst, uint value, long count)
    {
        using var call = Observe(CudaCallKind.Memset, "cuMemsetD32Async");
        CudaDriver.Check(CudaDriver.Api.MemsetD32Async(dst, value, (nuint)count, handle), "cuMemsetD32Async");
    }

    /// <summary>Launches a kernel on this stream. The arguments must match the kernel's parameter
    /// list in order and size (the driver cannot check them).</summary>
    public void Launch(CudaFunction function, Dim3 grid, Dim3 block, uint sharedBytes, scoped in KernelArguments args)
    {
        if (function.Handle == 0) throw new ArgumentException("Launch: the function handle is null", nameof(function));
        using var call = Observe(CudaCallKind.Kernel, function.Name);
        int rc = CudaDriver.Api.LaunchKernel(function.Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            sharedBytes, handle, args.Pointers, null);
        if (rc != 0)
            throw new CudaException("cuLaunchKernel", rc,
                $"{CudaDriver.Message("cuLaunchKernel", rc)} (kernel {function.Name}, grid {grid.X}x{grid.Y}x{grid.Z}, block {block.X}x{block.Y}x{block.Z}, shared {sharedBytes} B)");
    }

    /// <summary>Tells the <see cref="Observer"/> (if any) that a call begins; disposing the result
    /// tells it the call was issued or failed. A struct: nothing is allocated per call.</summary>
    private ObservedCall Observe(CudaCallKind kind, string name)
    {
        var o = Observer;
        return new ObservedCall(o, o?.Begin(this, kind, name) ?? 0);
    }

    private readonly struct ObservedCall(ICudaCallObserver? observer, int token) : IDisposable
    {
        public void Dispose() => observer?.End(token);
    }

    private static void CheckRange(CudaDeviceMemory mem, long offset, long bytes, string op)
    {
        if (offset < 0 || bytes < 0 || offset + bytes > mem.Bytes)
            throw new ArgumentException($"{op}: {bytes} bytes at offset {offset} do not fit in a {mem.Bytes}-byte device buffer");
    }
}
