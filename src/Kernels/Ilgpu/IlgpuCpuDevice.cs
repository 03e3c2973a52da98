using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Kernels.Ilgpu;

/// <summary>The `ilgpu-cpu` device: ILGPU's CPU accelerator in its NVIDIA-like form (warp 32,
/// groups up to 1024), running the Ilgpu kernel implementations. It simulates every GPU thread,
/// so it is slow: tiny shapes only (self-test, tests).</summary>
public sealed class IlgpuCpuDevice : Device, IDisposable
{
    private static readonly Lazy<IlgpuCpuDevice> s_instance = new(() => new IlgpuCpuDevice());
    private readonly Context _context;

    private IlgpuCpuDevice() : base("ilgpu-cpu", DeviceKind.IlgpuCpu)
    {
        _context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia).Optimize(OptimizationLevel.O1).EnableAlgorithms());
        Accelerator = _context.CreateCPUAccelerator(0);
    }

    public static IlgpuCpuDevice Instance => s_instance.Value;

#pragma warning disable CA2255 // a module initializer in a library is intended here: it only registers a factory
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => Devices.IlgpuCpuFactory ??= () => Instance;

    public CPUAccelerator Accelerator { get; }

    public override DeviceBuffer Allocate(DType dtype, long length, bool zero = false)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "negative buffer length");
        KernelProfiler.Count(this, ProfiledKind.Allocation, "ilgpu-cpu buffer");
        return new IlgpuCpuBuffer(this, dtype, length, zero);
    }

    public override void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer destination)
    {
        var span = IlgpuCpuBuffer.Of(destination).Span<T>();
        if (source.Length > span.Length)
            throw new ArgumentException($"upload of {source.Length} elements into an ilgpu-cpu buffer of {span.Length}");
        using var profiled = KernelProfiler.Call(this, ProfiledKind.CopyHostToDevice, "upload");
        Accelerator.Synchronize();
        source.CopyTo(span);
    }

    public override void Download<T>(DeviceBuffer source, Span<T> destination)
    {
        var span = IlgpuCpuBuffer.Of(source).Span<T>();
        if (destination.Length > span.Length)
            throw new ArgumentException($"download of {destination.Length} elements from an ilgpu-cpu buffer of {span.Length}");
        using var profiled = KernelProfiler.Call(this, ProfiledKind.CopyDeviceToHost, "download");
        Accelerator.Synchronize();
        span[..destination.Length].CopyTo(destination);
    }

    public override void Synchronize()
    {
        using var profiled = KernelProfiler.Call(this, ProfiledKind.Synchronize, "synchronize");
        Accelerator.Synchronize();
    }

    public void Dispose()
    {
        Accelerator.Dispose();
        _context.Dispose();
    }
}

/// <summary>An ILGPU CPU-accelerator buffer, freed in Dispose.</summary>
public sealed unsafe class IlgpuCpuBuffer : DeviceBuffer
{
    private MemoryBuffer? _buffer;

    internal IlgpuCpuBuffer(IlgpuCpuDevice device, DType dtype, long length, bool zero) : base(device, dtype, length)
    {
        long n = Math.Max(1, length);
        _buffer = dtype switch
        {
            DType.F32 => device.Accelerator.Allocate1D<float>(n),
            DType.F64 => device.Accelerator.Allocate1D<double>(n),
            DType.I32 => device.Accelerator.Allocate1D<int>(n),
            _ => throw new NotSupportedException($"the ilgpu-cpu device has no {dtype.Name()} buffers; use float32, float64 or int32"),
        };
        if (zero) new Span<byte>((void*)_buffer.NativePtr, checked((int)(n * dtype.Size()))).Clear();
    }

    public static IlgpuCpuBuffer Of(DeviceBuffer buffer) =>
        buffer as IlgpuCpuBuffer ?? throw new ArgumentException(
            $"a buffer on {buffer.Device.Name} was passed where an ilgpu-cpu buffer was expected; copy it to the ilgpu-cpu device first");

    /// <summary>The elements in host memory (the CPU accelerator's buffers are host memory).</summary>
    public Span<T> Span<T>() where T : unmanaged
    {
        if (DTypeExtensions.Of<T>() != DType)
            throw new ArgumentException($"a {DType.Name()} ilgpu-cpu buffer was accessed as {typeof(T).Name}");
        ThrowIfDisposed();
        return new Span<T>((void*)_buffer!.NativePtr, checked((int)Length));
    }

    /// <summary>The ArrayView&lt;T&gt; a kernel parameter expects, boxed for ILGPU's launcher.</summary>
    internal object BoxedView()
    {
        ThrowIfDisposed();
        return DType switch
        {
            DType.F32 => (ArrayView<float>)((MemoryBuffer1D<float, Stride1D.Dense>)_buffer!).View.SubView(0, Length),
            DType.F64 => (ArrayView<double>)((MemoryBuffer1D<double, Stride1D.Dense>)_buffer!).View.SubView(0, Length),
            _ => (ArrayView<int>)((MemoryBuffer1D<int, Stride1D.Dense>)_buffer!).View.SubView(0, Length),
        };
    }

    protected override void Release()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
