namespace Kernels.Bindings.Cuda;

/// <summary>The kernelParams array of cuLaunchKernel, built without boxing: each value is copied
/// into caller-provided storage (stack memory: <c>stackalloc</c>) and a pointer to it appended to a
/// caller-provided pointer array. Slots are 8-byte aligned (16 for values of 16 bytes or more),
/// which covers every CUDA parameter type; the driver copies each parameter by the size the
/// kernel declares, so a value's C# size must equal the kernel parameter's size.
/// <code>
/// byte* storage = stackalloc byte[KernelArguments.StorageFor(5)];
/// nint* slots = stackalloc nint[5];
/// var args = new KernelArguments(slots, 5, storage, KernelArguments.StorageFor(5));
/// args.Add(kind); args.Add(alpha); args.Add(x.Pointer); args.Add(y.Pointer); args.Add(n);
/// stream.Launch(fn, grid, block, 0, args);
/// </code>
/// Both buffers must stay where they are until the launch returns (stack or pinned memory).</summary>
public unsafe ref struct KernelArguments
{
    private readonly nint* _pointers;
    private readonly int _capacity;
    private readonly byte* _storage;
    private readonly int _storageBytes;
    private int _count;
    private int _used;

    public KernelArguments(nint* pointers, int capacity, byte* storage, int storageBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        ArgumentOutOfRangeException.ThrowIfNegative(storageBytes);
        _pointers = pointers;
        _capacity = capacity;
        _storage = storage;
        _storageBytes = storageBytes;
    }

    /// <summary>Storage enough for <paramref name="count"/> values of up to 8 bytes each.</summary>
    public static int StorageFor(int count) => count * 8;

    public readonly int Count => _count;

    /// <summary>Bytes of storage used so far (including alignment padding).</summary>
    public readonly int StorageUsed => _used;

    /// <summary>The void** that cuLaunchKernel takes.</summary>
    public readonly void** Pointers => (void**)_pointers;

    /// <summary>The pointer of argument <paramref name="index"/>.</summary>
    public readonly nint this[int index] => (uint)index < (uint)_count ? _pointers[index] : throw new ArgumentOutOfRangeException(nameof(index));

    public void Add<T>(T value) where T : unmanaged
    {
        int align = sizeof(T) >= 16 ? 16 : 8;
        // Align the address, not the offset: stackalloc'd storage is only 8-byte aligned.
        nint address = ((nint)(_storage + _used) + (align - 1)) & ~(nint)(align - 1);
        int offset = (int)(address - (nint)_storage);
        if (_count == _capacity)
            throw new InvalidOperationException($"KernelArguments: all {_capacity} pointer slots are used");
        if (offset + sizeof(T) > _storageBytes)
            throw new InvalidOperationException(
                $"KernelArguments: argument {_count} ({typeof(T).Name}, {sizeof(T)} bytes) does not fit in the {_storageBytes}-byte storage ({_used} used)");
        *(T*)address = value;
        _pointers[_count++] = address;
        _used = offset + sizeof(T);
    }
}
