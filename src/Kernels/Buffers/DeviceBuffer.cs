namespace Kernels;

/// <summary>A run of elements on one device. Owned by exactly one holder, who disposes it;
/// nothing is freed by a finalizer (device memory must be released deterministically).</summary>
public abstract class DeviceBuffer : IDisposable
{
    private int _disposed;

    protected DeviceBuffer(Device device, DType dtype, long length)
    {
        Device = device;
        DType = dtype;
        Length = length;
        device.Memory.OnAllocate(Bytes);
    }

    public Device Device { get; }
    public DType DType { get; }
    public long Length { get; }
    public long Bytes => Length * DType.Size();
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Release();
        Device.Memory.OnFree(Bytes);
    }

    /// <summary>Returns the memory to its allocator.</summary>
    protected abstract void Release();

    protected void ThrowIfDisposed()
    {
        if (IsDisposed) throw new ObjectDisposedException($"{DType.Name()} buffer of {Length} on {Device.Name}");
    }
}
