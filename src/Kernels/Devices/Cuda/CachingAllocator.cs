namespace Kernels;

/// <summary>Where the caching allocator gets raw device memory (cuMemAlloc in the real device; a
/// fake in tests, so the caching logic is tested without a GPU).</summary>
public interface IDeviceMemorySource
{
    /// <summary>False on out-of-memory; other failures throw.</summary>
    bool TryAllocate(long bytes, out ulong pointer);

    void Free(ulong pointer);

    /// <summary>Waits for queued work, so freed blocks are no longer in use by the GPU.</summary>
    void Synchronize();
}

/// <summary>A block handed out by the allocator: its address and its rounded size.</summary>
public readonly record struct MemoryBlock(ulong Pointer, long Bytes);

/// <summary>The cuda device's caching allocator (in the manner of PyTorch's): requests are rounded
/// up to a size class, freed blocks are kept per class and reused, so a training step that
/// allocates the same sizes every step stops calling the driver after the first. Since every
/// kernel runs on one stream, a block freed on the host can be reused at once: later work on the
/// same stream is ordered after the work that used it.</summary>
public sealed class CachingAllocator : IDisposable
{
    private readonly IDeviceMemorySource _source;
    private readonly string _deviceName;
    private readonly Lock _gate = new();
    private readonly Dictionary<long, Stack<ulong>> _free = [];
    // Blocks handed out: a second Free of one block would cache it twice and hand it to two owners.
    private readonly Dictionary<ulong, long> _live = [];
    private long _allocated, _reserved, _peak, _cachedBytes;
    private long _driverAllocations;

    public CachingAllocator(IDeviceMemorySource source, string deviceName)
    {
        _source = source;
        _deviceName = deviceName;
    }

    /// <summary>Bytes in blocks handed out and not yet freed (rounded sizes).</summary>
    public long AllocatedBytes { get { lock (_gate) return _allocated; } }

    /// <summary>Bytes obtained from the driver: handed out plus cached.</summary>
    public long ReservedBytes { get { lock (_gate) return _reserved; } }

    /// <summary>High-water mark of <see cref="AllocatedBytes"/>.</summary>
    public long PeakBytes { get { lock (_gate) return _peak; } }

    /// <summary>Calls that reached the driver (a steady training loop stops adding to it).</summary>
    public long DriverAllocations { get { lock (_gate) return _driverAllocations; } }

    /// <summary>Size class of a request: 512-byte steps below 1 MiB, 2 MiB steps above (few
    /// classes, at most 1/4 wasted on small requests and under 2 MiB on large ones).</summary>
    public static long SizeClass(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        const long small = 512, large = 2 << 20;
        return bytes < 1 << 20 ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large;
    }

    public MemoryBlock Allocate(long bytes)
    {
        long size = SizeClass(bytes);
        lock (_gate)
        {
            if (_free.TryGetValue(size, out var stack) && stack.Count > 0)
            {
                _cachedBytes -= size;
                return Hand(new MemoryBlock(stack.Pop(), size));
            }
            if (!_source.TryAllocate(size, out var ptr))
            {
                // Out of memory: give every cached block back to the driver and try once more.
                TrimLocked();
                if (!_source.TryAllocate(size, out ptr))
                    throw new OutOfMemoryException(
                        $"{_deviceName}: out of memory allocating {bytes} bytes (size class {size}); " +
                        $"allocated {_allocated} bytes in live buffers, reserved {_reserved}, cached {_cachedBytes} " +
                        $"(after returning the cache to the driver), peak {_peak}, driver allocations {_driverAllocations}. " +
                        "Use a smaller batch or free tensors that are no longer needed.");
            }
            _driverAllocations++;
            _reserved += size;
            return Hand(new MemoryBlock(ptr, size));
        }
    }

    /// <summary>Returns a block to the cache. A block this allocator did not hand out, or one
    /// already freed, throws <see cref="InvalidOperationException"/> (and changes nothing).</summary>
    public void Free(MemoryBlock block)
    {
        if (block.Pointer == 0) return;
        lock (_gate)
        {
            if (!_live.TryGetValue(block.Pointer, out long bytes) || bytes != block.Bytes)
                throw new InvalidOperationException(
                    $"{_deviceName}: free of a block (0x{block.Pointer:x}, {block.Bytes} bytes) that is not allocated: freed twice, or not from this allocator");
            _live.Remove(block.Pointer);
            _allocated -= block.Bytes;
            if (!_free.TryGetValue(block.Bytes, out var stack)) _free[block.Bytes] = stack = new Stack<ulong>();
            stack.Push(block.Pointer);
            _cachedBytes += block.Bytes;
        }
    }

    /// <summary>Bytes held in the cache (reserved but not handed out).</summary>
    public long CachedBytes { get { lock (_gate) return _cachedBytes; } }

    /// <summary>Returns every cached block to the driver.</summary>
    public void Trim()
    {
        lock (_gate) TrimLocked();
    }

    private void TrimLocked()
    {
        if (_cachedBytes == 0) return;
        _source.Synchronize();
        foreach (var (size, stack) in _free)
            while (stack.Count > 0)
            {
                _source.Free(stack.Pop());
                _reserved -= size;
            }
        _cachedBytes = 0;
    }

    private MemoryBlock Hand(MemoryBlock block)
    {
        _live.Add(block.Pointer, block.Bytes);
        _allocated += block.Bytes;
        if (_allocated > _peak) _peak = _allocated;
        return block;
    }

    /// <summary>Frees the cache. Blocks still handed out are the owners' to free (they are lost
    /// with the context at shutdown).</summary>
    public void Dispose() => Trim();
}
