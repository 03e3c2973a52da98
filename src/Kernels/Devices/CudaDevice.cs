using System.Runtime.CompilerServices;
using Kernels.Bindings.Cublas;
using Kernels.Bindings.Cuda;

namespace Kernels;

/// <summary>The `cuda:N` device: one retained primary context, one compute stream, and device
/// memory from the caching allocator. Hand-written kernels, ILGPU kernels (compiled to PTX and
/// loaded through our bindings: decisions/0010) and cuBLAS all run on <see cref="Stream"/> and
/// read and write the same <see cref="CudaBuffer"/>s. Every public method makes the context
/// current on the calling thread first, so any thread may drive the device.</summary>
public sealed class CudaDevice : Device, IDisposable
{
    private static readonly Lock s_gate = new();
    private static readonly Dictionary<int, CudaDevice> s_devices = [];

    [ThreadStatic] private static nint t_current;

    private readonly CudaContext _context;
    private readonly CudaStream _stream;
    private readonly Lazy<CublasHandle> _cublas;
    private bool _disposed;

    private CudaDevice(int ordinal, CudaDeviceInfo info) : base($"cuda:{ordinal}", DeviceKind.Cuda)
    {
        Ordinal = ordinal;
        Info = info;
        _context = CudaDriver.RetainPrimaryContext(CudaDriver.GetDevice(ordinal));
        t_current = _context.DangerousGetHandle();
        _stream = CudaStream.Create();
        Allocator = new CachingAllocator(new DriverMemorySource(this), Name);
        Staging = new PinnedStaging(this);
        _cublas = new Lazy<CublasHandle>(() =>
        {
            MakeCurrent();
            var h = global::Kernels.Bindings.Cublas.Cublas.Create();
            global::Kernels.Bindings.Cublas.Cublas.SetStream(h, _stream);
            return h;
        });
    }

    /// <summary>The device for CUDA ordinal <paramref name="ordinal"/>, created on first use.</summary>
    public static CudaDevice Get(int ordinal)
    {
        if (!CudaDriverProbe.IsAvailable)
            throw new DeviceUnavailableException($"cannot use cuda:{ordinal}: {CudaDriverProbe.Reason}. Run with --device cpu instead.");
        if ((uint)ordinal >= (uint)CudaDriverProbe.Devices.Count)
            throw new DeviceUnavailableException(
                $"cannot use cuda:{ordinal}: {CudaDriverProbe.Devices.Count} CUDA device(s) present. Run with --device cuda:0 or --device cpu.");
        lock (s_gate)
        {
            if (!s_devices.TryGetValue(ordinal, out var d) || d._disposed)
                s_devices[ordinal] = d = new CudaDevice(ordinal, CudaDriverProbe.Devices[ordinal]);
            return d;
        }
    }

#pragma warning disable CA2255 // a module initializer in a library is intended here: it only registers a factory
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => Devices.CudaFactory ??= Get;

    public int Ordinal { get; }
    public CudaDeviceInfo Info { get; }

    /// <summary>Compute capability, e.g. (9, 0) for an H100.</summary>
    public (int Major, int Minor) ComputeCapability => (Info.ComputeMajor, Info.ComputeMinor);

    /// <summary>The compute stream: every kernel, copy and cuBLAS call of this device goes here.</summary>
    public CudaStream Stream
    {
        get
        {
            MakeCurrent();
            return _stream;
        }
    }

    /// <summary>cuBLAS handle bound to <see cref="Stream"/>, created on first use.</summary>
    public CublasHandle Cublas
    {
        get
        {
            MakeCurrent();
            return _cublas.Value;
        }
    }

    /// <summary>Device memory: size classes, reuse, Trim, counters.</summary>
    public CachingAllocator Allocator { get; }

    /// <summary>Pinned host memory through which uploads and downloads travel.</summary>
    internal PinnedStaging Staging { get; }

    /// <summary>Makes this device's context current on the calling thread (cheap when it already is).</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var h = _context.DangerousGetHandle();
        if (t_current == h) return;
        _context.SetCurrent();
        t_current = h;
    }

    public override DeviceBuffer Allocate(DType dtype, long length, bool zero = false)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "negative buffer length");
        MakeCurrent();
        long bytes = Math.Max(1, length * dtype.Size());
        long driverCalls = KernelProfiler.IsActive ? Allocator.DriverAllocations : 0;
        var block = Allocator.Allocate(bytes);
        if (KernelProfiler.IsActive)
            KernelProfiler.Count(this, Allocator.DriverAllocations > driverCalls ? ProfiledKind.AllocationMiss : ProfiledKind.Allocation,
                "cuda buffer");
        var buffer = new CudaBuffer(this, dtype, length, block);
        if (zero) _stream.MemsetBytes(block.Pointer, 0, bytes);
        return buffer;
    }

    public override void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer destination)
    {
        var b = CudaBuffer.Of(destination, this);
        if (source.Length > b.Length)
            throw new ArgumentException($"upload of {source.Length} elements into a cuda buffer of {b.Length}");
        MakeCurrent();
        Staging.Upload(source, b.Pointer);
    }

    public override void Download<T>(DeviceBuffer source, Span<T> destination)
    {
        var b = CudaBuffer.Of(source, this);
        if (destination.Length > b.Length)
            throw new ArgumentException($"download of {destination.Length} elements from a cuda buffer of {b.Length}");
        MakeCurrent();
        Staging.Download(b.Pointer, destination);
    }

    public override void Synchronize()
    {
        MakeCurrent();
        _stream.Synchronize();
    }

    /// <summary>Releases everything this device holds. Buffers still alive become unusable; call
    /// only at shutdown (tests, the CLI's exit).</summary>
    public void Dispose()
    {
        lock (s_gate)
        {
            if (_disposed) return;
            MakeCurrent();
            _stream.Synchronize();
            if (_cublas.IsValueCreated) _cublas.Value.Dispose();
            Modules.Dispose();
            Staging.Dispose();
            Allocator.Dispose();
            _stream.Dispose();
            _context.Dispose();
            t_current = 0;
            _disposed = true;
            s_devices.Remove(Ordinal);
        }
    }

    /// <summary>Loaded modules (hand-written PTX/cubin and ILGPU PTX), by key.</summary>
    public CudaModuleCache Modules { get; } = new();

    /// <summary>Raw device memory for the caching allocator: cuMemAlloc / cuMemFree in this context.</summary>
    private sealed class DriverMemorySource(CudaDevice device) : IDeviceMemorySource
    {
        public bool TryAllocate(long bytes, out ulong pointer)
        {
            device.MakeCurrent();
            return CudaDriver.TryMemAlloc(bytes, out pointer);
        }

        public void Free(ulong pointer)
        {
            device.MakeCurrent();
            CudaDriver.MemFree(pointer);
        }

        public void Synchronize() => device._stream.Synchronize();
    }
}

/// <summary>Device memory of a <see cref="CudaDevice"/>: a block of the caching allocator,
/// returned to it in Dispose (never in a finalizer).</summary>
public sealed class CudaBuffer : DeviceBuffer
{
    private readonly CudaDevice _device;
    private MemoryBlock _block;

    internal CudaBuffer(CudaDevice device, DType dtype, long length, MemoryBlock block) : base(device, dtype, length)
    {
        _device = device;
        _block = block;
    }

    /// <summary>The device address of the first element.</summary>
    public ulong Pointer
    {
        get
        {
            ThrowIfDisposed();
            return _block.Pointer;
        }
    }

    /// <summary>The buffer as a cuda buffer of <paramref name="device"/> (any cuda device when null),
    /// with a clear error otherwise.</summary>
    public static CudaBuffer Of(DeviceBuffer buffer, CudaDevice? device = null)
    {
        if (buffer is not CudaBuffer c)
            throw new ArgumentException(
                $"a buffer on {buffer.Device.Name} was passed where a cuda buffer was expected; copy it to the cuda device first");
        if (device is not null && !ReferenceEquals(c._device, device))
            throw new ArgumentException($"a buffer on {c._device.Name} was passed to an op on {device.Name}; copy it first");
        return c;
    }

    protected override void Release()
    {
        _device.Allocator.Free(_block);
        _block = default;
    }
}
