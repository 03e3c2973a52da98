using Kernels.Bindings.Cuda;

namespace Kernels;

/// <summary>Host↔device copies through one pinned buffer: the host data is copied into pinned
/// memory, the DMA runs from there, chunk by chunk. The engine's copies are synchronous for the
/// caller (the span may be reused when the call returns).</summary>
internal sealed unsafe class PinnedStaging(CudaDevice device) : IDisposable
{
    private const long ChunkBytes = 8 << 20;
    private readonly Lock _gate = new();
    private CudaPinnedMemory? _pinned;

    private CudaPinnedMemory Buffer(long bytes)
    {
        long want = Math.Min(ChunkBytes, Math.Max(bytes, 64 << 10));
        if (_pinned is null || _pinned.Bytes < want)
        {
            _pinned?.Dispose();
            _pinned = CudaPinnedMemory.Allocate(Math.Max(want, _pinned?.Bytes ?? 0));
        }
        return _pinned;
    }

    public void Upload<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged
    {
        long total = (long)source.Length * sizeof(T);
        if (total == 0) return;
        lock (_gate)
        {
            var stream = device.Stream;
            var pin = Buffer(total);
            fixed (T* src = source)
            {
                byte* s = (byte*)src;
                for (long done = 0; done < total;)
                {
                    long n = Math.Min(pin.Bytes, total - done);
                    // The previous chunk's DMA must finish before its staging bytes are overwritten.
                    stream.Synchronize();
                    System.Buffer.MemoryCopy(s + done, (void*)pin.Pointer, pin.Bytes, n);
                    stream.CopyHostToDevice(destination + (ulong)done, (void*)pin.Pointer, n);
                    done += n;
                }
            }
            stream.Synchronize();
        }
    }

    public void Download<T>(ulong source, Span<T> destination) where T : unmanaged
    {
        long total = (long)destination.Length * sizeof(T);
        if (total == 0) return;
        lock (_gate)
        {
            var stream = device.Stream;
            var pin = Buffer(total);
            fixed (T* dst = destination)
            {
                byte* d = (byte*)dst;
                for (long done = 0; done < total;)
                {
                    long n = Math.Min(pin.Bytes, total - done);
                    stream.CopyDeviceToHost((void*)pin.Pointer, source + (ulong)done, n);
                    stream.Synchronize();
                    System.Buffer.MemoryCopy((void*)pin.Pointer, d + done, total - done, n);
                    done += n;
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _pinned?.Dispose();
            _pinned = null;
        }
    }
}
