namespace Kernels.Ilgpu;

/// <summary>One argument of an ILGPU kernel launch: a buffer (the kernel sees an ArrayView of its
/// element type) or a 32/64-bit scalar. Passed as a params span, so a launch allocates nothing
/// on the cuda path.</summary>
public readonly struct KernelArg
{
    internal enum ArgKind : byte { Buffer, Int32, Int64, Float32 }

    internal readonly DeviceBuffer? Buffer;
    internal readonly long Bits;
    internal readonly ArgKind Kind;

    private KernelArg(DeviceBuffer? buffer, long bits, ArgKind kind)
    {
        Buffer = buffer;
        Bits = bits;
        Kind = kind;
    }

    public static implicit operator KernelArg(DeviceBuffer buffer) =>
        new(buffer ?? throw new ArgumentNullException(nameof(buffer)), 0, ArgKind.Buffer);

    public static implicit operator KernelArg(int value) => new(null, value, ArgKind.Int32);

    public static implicit operator KernelArg(long value) => new(null, value, ArgKind.Int64);

    public static implicit operator KernelArg(float value) => new(null, BitConverter.SingleToInt32Bits(value), ArgKind.Float32);

    internal int AsInt32 => (int)Bits;
    internal long AsInt64 => Bits;
    internal float AsFloat32 => BitConverter.Int32BitsToSingle((int)Bits);

    internal Type ParameterType => Kind switch
    {
        ArgKind.Int32 => typeof(int),
        ArgKind.Int64 => typeof(long),
        ArgKind.Float32 => typeof(float),
        _ => Buffer!.DType switch
        {
            DType.F32 => typeof(global::ILGPU.ArrayView<float>),
            DType.F64 => typeof(global::ILGPU.ArrayView<double>),
            DType.I32 => typeof(global::ILGPU.ArrayView<int>),
            var d => throw new NotSupportedException($"ILGPU kernels take float32, float64 or int32 buffers, not {d.Name()}"),
        },
    };
}
