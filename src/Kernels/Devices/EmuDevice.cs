using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Kernels.Bindings.Emu;

namespace Kernels;

/// <summary>The `emu` device: host memory from <see cref="NativeMemory.AlignedAlloc"/> (so native
/// code gets stable raw pointers) and the Native kernel implementations running in
/// libkernels_emu.so, the .cu sources compiled as host C++. A correctness tool for tiny shapes.
/// Only the families with a Native implementation run here (Activation, float32); the Cpu
/// kernels work on managed arrays and do not accept these buffers.</summary>
public sealed class EmuDevice : Device
{
    private static readonly Lazy<EmuDevice> s_instance = new(() => new EmuDevice());

    private EmuDevice() : base("emu", DeviceKind.Emu) { }

    /// <summary>The one emu device; throws <see cref="DeviceUnavailableException"/> (saying where
    /// the library was looked for) when libkernels_emu.so is missing.</summary>
    public static EmuDevice Instance =>
        EmuNative.IsAvailable ? s_instance.Value : throw new DeviceUnavailableException($"cannot use emu: {EmuNative.Reason}");

    // Devices.Get("emu") goes through this slot; the Kernels assembly fills it when it loads.
#pragma warning disable CA2255 // a module initializer in a library is intended here: it only registers a factory
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => Devices.EmuFactory ??= () => Instance;

    public override DeviceBuffer Allocate(DType dtype, long length, bool zero = false)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "negative buffer length");
        return dtype switch
        {
            DType.F32 or DType.F64 or DType.I32 => new EmuBuffer(this, dtype, length, zero),
            _ => throw new NotSupportedException($"the emu device has no {dtype.Name()} buffers yet; use float32"),
        };
    }

    public override void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer destination)
    {
        var span = EmuBuffer.Of(destination).Span<T>();
        if (source.Length > span.Length)
            throw new ArgumentException($"upload of {source.Length} elements into an emu buffer of {span.Length}");
        source.CopyTo(span);
    }

    public override void Download<T>(DeviceBuffer source, Span<T> destination)
    {
        var span = EmuBuffer.Of(source).Span<T>();
        if (destination.Length > span.Length)
            throw new ArgumentException($"download of {destination.Length} elements from an emu buffer of {span.Length}");
        span[..destination.Length].CopyTo(destination);
    }
}

/// <summary>Host memory of the emu device, freed in Dispose (no finalizer, like device memory).</summary>
public sealed unsafe class EmuBuffer : DeviceBuffer
{
    private void* _data;

    internal EmuBuffer(EmuDevice device, DType dtype, long length, bool zero) : base(device, dtype, length)
    {
        // 64-byte alignment: what cudaMalloc guarantees at least, so vectorised loads behave alike.
        nuint bytes = (nuint)Math.Max(1, length * dtype.Size());
        _data = NativeMemory.AlignedAlloc(bytes, 64);
        if (zero) NativeMemory.Clear(_data, bytes);
    }

    /// <summary>The start of the buffer, for native kernels.</summary>
    public nint Pointer
    {
        get
        {
            ThrowIfDisposed();
            return (nint)_data;
        }
    }

    /// <summary>The elements as <typeparamref name="T"/>, which must match the dtype.</summary>
    public Span<T> Span<T>() where T : unmanaged
    {
        if (DTypeExtensions.Of<T>() != DType)
            throw new ArgumentException($"a {DType.Name()} emu buffer was accessed as {typeof(T).Name}");
        ThrowIfDisposed();
        return new Span<T>(_data, checked((int)Length));
    }

    /// <summary>The buffer as an emu buffer, with a clear error for another device.</summary>
    public static EmuBuffer Of(DeviceBuffer buffer) =>
        buffer as EmuBuffer ?? throw new ArgumentException(
            $"a buffer on {buffer.Device.Name} was passed where an emu buffer was expected; copy it to the emu device first");

    protected override void Release()
    {
        NativeMemory.AlignedFree(_data);
        _data = null;
    }
}
