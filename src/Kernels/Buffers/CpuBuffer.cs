using System.Buffers;

namespace Kernels;

/// <summary>A pooled managed array. The array may be longer than <see cref="DeviceBuffer.Length"/>.</summary>
public sealed class CpuBuffer<T> : DeviceBuffer where T : unmanaged
{
    private T[]? _array;

    internal CpuBuffer(CpuDevice device, int length, bool zero) : base(device, DTypeExtensions.Of<T>(), length)
    {
        _array = length == 0 ? System.Array.Empty<T>() : ArrayPool<T>.Shared.Rent(length);
        if (zero) System.Array.Clear(_array, 0, length);
    }

    /// <summary>The backing array (longer than Length when pooled).</summary>
    public T[] Array
    {
        get
        {
            ThrowIfDisposed();
            return _array!;
        }
    }

    public Span<T> Span => Array.AsSpan(0, (int)Length);

    public Memory<T> Memory => Array.AsMemory(0, (int)Length);

    protected override void Release()
    {
        var a = _array;
        _array = null;
        if (a is { Length: > 0 }) ArrayPool<T>.Shared.Return(a);
    }
}

/// <summary>Access to the elements of CPU buffers, with a clear error for a wrong device or dtype.</summary>
public static class CpuBuffer
{
    public static Span<T> Span<T>(DeviceBuffer buffer) where T : unmanaged => Of<T>(buffer).Span;

    public static T[] Array<T>(DeviceBuffer buffer) where T : unmanaged => Of<T>(buffer).Array;

    public static CpuBuffer<T> Of<T>(DeviceBuffer buffer) where T : unmanaged
    {
        if (buffer is CpuBuffer<T> b) return b;
        if (buffer.Device.Kind != DeviceKind.Cpu)
            throw new ArgumentException($"a buffer on {buffer.Device.Name} was passed to a cpu kernel; copy it to the cpu first");
        throw new ArgumentException($"a {buffer.DType.Name()} buffer was passed where {typeof(T).Name} was expected");
    }
}
