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
        var o = Observer;
        int t = o?.Begin(this, CudaCallKind.Synchronize, "cuStreamSynchronize") ?? 0;
        try { CudaDriver.Check(CudaDriver.Api.StreamSynchronize(handle), "cuStreamSynchronize"); }
        finally { o?.End(t); }
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
        var o = Observer;
        int t = o?.Begin(this, CudaCallKind.CopyHostToDevice, "cuMemcpyHtoDAsync") ?? 0;
        try { CudaDriver.Check(CudaDriver.Api.MemcpyHtoDAsync(dst, src, (nuint)bytes, handle), "cuMemcpyHtoDAsync_v2"); }
        finally { o?.End(t); }
    }

    public void CopyDeviceToHost(void* dst, ulong src, long bytes)
    {
        var o = Observer;
        int t = o?.Begin(this, CudaCallKind.CopyDeviceToHost, "cuMemcpyDtoHAsync") ?? 0;
        try { CudaDriver.Check(CudaDriver.Api.MemcpyDtoHAsync(dst, src, (nuint)bytes, handle), "cuMemcpyDtoHAsync_v2"); }
        finally { o?.End(t); }
    }

    public void CopyDeviceToDevice(ulong dst, ulong src, long bytes)
    {
        var o = Observer;
        int t = o?.Begin(this, CudaCallKind.CopyDeviceToDevice, "cuMemcpyDtoDAsync") ?? 0;
        try { CudaDriver.Check(CudaDriver.Api.MemcpyDtoDAsync(dst, src, (nuint)bytes, handle), "cuMemcpyDtoDAsync_v2"); }
        finally { o?.End(t); }
    }

    /// <summary>Sets <paramref name="bytes"/> bytes to <paramref name="value"/>.</summary>
    public void MemsetBytes(ulong dst, byte value, long bytes)
    {
        var o = Observer;
        int t = o?.Begin(this, CudaCallKind.Memset, "cuMemsetD8Async") ?? 0;
        try { CudaDriver.Check(CudaDriver.Api.MemsetD8Async(dst, value, (nuint)bytes, handle), "cuMemsetD8Async"); }
        finally { o?.End(t); }
    }

    /// <summary>Sets <paramref name="count"/> 32-bit words (e.g. a float's bit pattern).</summary>
    public void Memset32(ulong dst, uint value, long count)
    {
        var o = Observer;
        int t = o?.Begin(this, CudaCallKind.Memset, "cuMemsetD32Async") ?? 0;
        try { CudaDriver.Check(CudaDriver.Api.MemsetD32Async(dst, value, (nuint)count, handle), "cuMemsetD32Async"); }
        finally { o?.End(t); }
    }

    /// <summary>Launches a kernel on this stream. The arguments must match the kernel's parameter
    /// list in order and size (the driver cannot check them).</summary>
    public void Launch(CudaFunction function, Dim3 grid, Dim3 block, uint sharedBytes, scoped in KernelArguments args)
    {
        if (function.Handle == 0) throw new ArgumentException("Launch: the function handle is null", nameof(function));
        var o = Observer;
        if (o is null)
        {
            LaunchCore(function, grid, block, sharedBytes, args);
            return;
        }
        int t = o.Begin(this, CudaCallKind.Kernel, function.Name);
        try { LaunchCore(function, grid, block, sharedBytes, args); }
        finally { o.End(t); }
    }

    private void LaunchCore(CudaFunction function, Dim3 grid, Dim3 block, uint sharedBytes, scoped in KernelArguments args)
    {
        int rc = CudaDriver.Api.LaunchKernel(function.Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            sharedBytes, handle, args.Pointers, null);
        if (rc != 0)
            throw new CudaException("cuLaunchKernel", rc,
                $"{CudaDriver.Message("cuLaunchKernel", rc)} (kernel {function.Name}, grid {grid.X}x{grid.Y}x{grid.Z}, block {block.X}x{block.Y}x{block.Z}, shared {sharedBytes} B)");
    }

    private static void CheckRange(CudaDeviceMemory mem, long offset, long bytes, string op)
    {
        if (offset < 0 || bytes < 0 || offset + bytes > mem.Bytes)
            throw new ArgumentException($"{op}: {bytes} bytes at offset {offset} do not fit in a {mem.Bytes}-byte device buffer");
    }
}
