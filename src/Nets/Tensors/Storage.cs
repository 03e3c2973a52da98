namespace Kernels.Nets;

/// <summary>A device buffer shared by a tensor and its views (reshape, detach), released when
/// the last of them is disposed.</summary>
internal sealed class Storage
{
    private int _refs = 1;

    public Storage(DeviceBuffer buffer)
    {
        Buffer = buffer;
        TensorStats.OnStorageCreated(buffer.Bytes);
    }

    public DeviceBuffer Buffer { get; }

    public void AddRef() => Interlocked.Increment(ref _refs);

    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) != 0) return;
        TensorStats.OnStorageReleased(Buffer.Bytes);
        Buffer.Dispose();
    }
}

/// <summary>Process-wide counters of live tensors and the bytes their storage holds. A training
/// step that does not leak leaves them where they were.</summary>
public static class TensorStats
{
    private static long s_tensors, s_bytes, s_peak, s_storages;

    public static long LiveTensors => Interlocked.Read(ref s_tensors);
    public static long LiveStorages => Interlocked.Read(ref s_storages);
    public static long LiveBytes => Interlocked.Read(ref s_bytes);
    public static long PeakBytes => Interlocked.Read(ref s_peak);

    public static void ResetPeak() => Interlocked.Exchange(ref s_peak, LiveBytes);

    internal static void OnTensorCreated() => Interlocked.Increment(ref s_tensors);
    internal static void OnTensorDisposed() => Interlocked.Decrement(ref s_tensors);

    internal static void OnStorageCreated(long bytes)
    {
        Interlocked.Increment(ref s_storages);
        long now = Interlocked.Add(ref s_bytes, bytes), peak;
        while (now > (peak = Interlocked.Read(ref s_peak)))
            if (Interlocked.CompareExchange(ref s_peak, now, peak) == peak) break;
    }

    internal static void OnStorageReleased(long bytes)
    {
        Interlocked.Decrement(ref s_storages);
        Interlocked.Add(ref s_bytes, -bytes);
    }
}
