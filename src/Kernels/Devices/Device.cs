using Kernels.Registry;

namespace Kernels;

public enum DeviceKind
{
    /// <summary>Managed memory, Cpu implementations: the reference and the embedded default.</summary>
    Cpu,
    /// <summary>ILGPU's CPU accelerator running the Ilgpu implementations (tiny shapes only).</summary>
    IlgpuCpu,
    /// <summary>Hand-written .cu kernels compiled as host C++ against the emulation header.</summary>
    Emu,
    /// <summary>An NVIDIA GPU through the engine's own driver bindings.</summary>
    Cuda,
}

/// <summary>Where buffers live and kernels run. One instance per physical device; tensors of
/// different devices never mix silently.</summary>
public abstract class Device
{
    private KernelSet? _kernels;

    protected Device(string name, DeviceKind kind)
    {
        Name = name;
        Kind = kind;
    }

    public string Name { get; }
    public DeviceKind Kind { get; }

    /// <summary>Bytes currently held by live buffers, and the high-water mark.</summary>
    public MemoryCounters Memory { get; } = new();

    /// <summary>The kernel implementations chosen for this device, one per family.</summary>
    public KernelSet Kernels => _kernels ??= new KernelSet(this);

    /// <summary>Allocates <paramref name="length"/> elements. Contents are undefined unless
    /// <paramref name="zero"/> is set.</summary>
    public abstract DeviceBuffer Allocate(DType dtype, long length, bool zero = false);

    /// <summary>Copies host data into a buffer of this device.</summary>
    public abstract void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer destination) where T : unmanaged;

    /// <summary>Copies a buffer of this device back to the host.</summary>
    public abstract void Download<T>(DeviceBuffer source, Span<T> destination) where T : unmanaged;

    /// <summary>Waits until all queued work on this device has finished.</summary>
    public virtual void Synchronize() { }

    public override string ToString() => Name;

    /// <summary>The CPU device (always present).</summary>
    public static CpuDevice Cpu => CpuDevice.Instance;
}

/// <summary>Live and peak byte counters of one device. Thread-safe.</summary>
public sealed class MemoryCounters
{
    private long _allocated;
    private long _peak;
    private long _buffers;

    public long AllocatedBytes => Interlocked.Read(ref _allocated);
    public long PeakBytes => Interlocked.Read(ref _peak);
    public long LiveBuffers => Interlocked.Read(ref _buffers);

    public void ResetPeak() => Interlocked.Exchange(ref _peak, AllocatedBytes);

    internal void OnAllocate(long bytes)
    {
        Interlocked.Increment(ref _buffers);
        long now = Interlocked.Add(ref _allocated, bytes);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peak)))
            if (Interlocked.CompareExchange(ref _peak, now, peak) == peak) break;
    }

    internal void OnFree(long bytes)
    {
        Interlocked.Decrement(ref _buffers);
        Interlocked.Add(ref _allocated, -bytes);
    }
}

/// <summary>A device was asked for that cannot be used here; the message says why and what to do.</summary>
public sealed class DeviceUnavailableException(string message) : Exception(message);
