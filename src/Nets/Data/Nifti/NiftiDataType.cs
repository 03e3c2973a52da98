namespace Kernels.Nets.Data.Nifti;

/// <summary>The NIfTI-1 voxel datatypes this reader and writer handle (the header's `datatype`
/// code). Complex, RGB and 64-bit integer types are refused with a clear error.</summary>
public enum NiftiDataType : short
{
    UInt8 = 2,
    Int16 = 4,
    Int32 = 8,
    Float32 = 16,
    Float64 = 64,
    Int8 = 256,
    UInt16 = 512,
}

public static class NiftiDataTypes
{
    public static bool IsSupported(short code) => code is 2 or 4 or 8 or 16 or 64 or 256 or 512;

    /// <summary>Bytes per voxel.</summary>
    public static int Size(this NiftiDataType t) => t switch
    {
        NiftiDataType.UInt8 or NiftiDataType.Int8 => 1,
        NiftiDataType.Int16 or NiftiDataType.UInt16 => 2,
        NiftiDataType.Int32 or NiftiDataType.Float32 => 4,
        NiftiDataType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "not a supported NIfTI datatype"),
    };

    public static bool IsInteger(this NiftiDataType t) => t is not (NiftiDataType.Float32 or NiftiDataType.Float64);

    /// <summary>The representable range of an integer datatype (float types: ±infinity).</summary>
    public static (double Min, double Max) Range(this NiftiDataType t) => t switch
    {
        NiftiDataType.UInt8 => (byte.MinValue, byte.MaxValue),
        NiftiDataType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        NiftiDataType.Int16 => (short.MinValue, short.MaxValue),
        NiftiDataType.UInt16 => (ushort.MinValue, ushort.MaxValue),
        NiftiDataType.Int32 => (int.MinValue, int.MaxValue),
        _ => (double.NegativeInfinity, double.PositiveInfinity),
    };

    /// <summary>Parses a name as the CLI and the tests spell it: uint8, int8, int16, uint16, int32, float32, float64.</summary>
    public static NiftiDataType Parse(string name) => name.ToLowerInvariant() switch
    {
        "uint8" or "u8" => NiftiDataType.UInt8,
        "int8" or "i8" => NiftiDataType.Int8,
        "int16" or "i16" => NiftiDataType.Int16,
        "uint16" or "u16" => NiftiDataType.UInt16,
        "int32" or "i32" => NiftiDataType.Int32,
        "float32" or "f32" => NiftiDataType.Float32,
        "float64" or "f64" => NiftiDataType.Float64,
        _ => throw new ArgumentException($"unknown NIfTI datatype '{name}': use uint8, int8, int16, uint16, int32, float32 or float64"),
    };

    public static string Name(this NiftiDataType t) => t switch
    {
        NiftiDataType.UInt8 => "uint8",
        NiftiDataType.Int8 => "int8",
        NiftiDataType.Int16 => "int16",
        NiftiDataType.UInt16 => "uint16",
        NiftiDataType.Int32 => "int32",
        NiftiDataType.Float32 => "float32",
        NiftiDataType.Float64 => "float64",
        _ => $"code {(short)t}",
    };
}
