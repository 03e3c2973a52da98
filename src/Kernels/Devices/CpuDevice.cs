using System.Buffers;

namespace Kernels;

/// <summary>Managed arrays, pooled. Kernels run multi-threaded with SIMD.</summary>
public sealed class CpuDevice : Device
{
    internal static readonly CpuDevice Instance = new();

    private CpuDevice() : base("cpu", DeviceKind.Cpu) { }

    public override DeviceBuffer Allocate(DType dtype, long length, bool zero = false)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "negative buffer length");
        if (length > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"a cpu buffer holds at most {Array.MaxLength} elements; split the tensor");
        return dtype switch
        {
            DType.F32 => new CpuBuffer<float>(this, (int)length, zero),
            DType.F64 => new CpuBuffer<double>(this, (int)length, zero),
            DType.I32 => new CpuBuffer<int>(this, (int)length, zero),
            _ => throw new NotSupportedException($"the cpu device has no {dtype.Name()} buffers yet; use float32"),
        };
    }

    public override void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer destination)
    {
        var span = CpuBuffer.Span<T>(destination);
        if (source.Length > span.Length)
            throw new ArgumentException($"upload of {source.Length} elements into a buffer of {span.Length}");
        source.CopyTo(span);
    }

    public override void Download<T>(DeviceBuffer source, Span<T> destination)
    {
        var span = CpuBuffer.Span<T>(source);
        if (destination.Length > span.Length)
            throw new ArgumentException($"download of {destination.Length} elements from a buffer of {span.Length}");
        span[..destination.Length].CopyTo(destination);
    }
}
