namespace Kernels.Nets.IO;

/// <summary>Builds the error for a file that is not valid safetensors (InvalidDataException is
/// sealed, so this is a factory rather than a subclass). The message names the file and the
/// problem; <c>Data["path"]</c> and <c>Data["problem"]</c> hold them apart.</summary>
public static class SafeTensorsFormat
{
    public const string Prefix = "not a valid safetensors file";

    public static InvalidDataException Error(string path, string problem)
    {
        var e = new InvalidDataException($"{path}: {Prefix}: {problem}");
        e.Data["path"] = path;
        e.Data["problem"] = problem;
        return e;
    }
}

/// <summary>The element types the safetensors format names. All can be listed from a header;
/// <see cref="SafeTensorsReader"/> reads F32, F64, I32, I64 (as int32, range-checked) and BF16/F16
/// (as float32). The sub-byte types of newer versions (F4, F6_*) are not known yet and count as unknown.</summary>
public enum SafeDType
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    BOOL,
    F8_E4M3,
    F8_E5M2,
    F8_E8M0,
    /// <summary>complex64: two float32.</summary>
    C64,
}

public static class SafeDTypes
{
    public static int Size(this SafeDType t) => t switch
    {
        SafeDType.F64 or SafeDType.I64 or SafeDType.U64 or SafeDType.C64 => 8,
        SafeDType.F32 or SafeDType.I32 or SafeDType.U32 => 4,
        SafeDType.F16 or SafeDType.BF16 or SafeDType.I16 or SafeDType.U16 => 2,
        SafeDType.I8 or SafeDType.U8 or SafeDType.BOOL or SafeDType.F8_E4M3 or SafeDType.F8_E5M2 or SafeDType.F8_E8M0 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown safetensors dtype"),
    };

    /// <summary>Parses the exact, case-sensitive name the format uses ("F32", "BF16", ...).</summary>
    public static bool TryParse(string name, out SafeDType dtype)
    {
        foreach (var t in Enum.GetValues<SafeDType>())
            if (t.ToString() == name)
            {
                dtype = t;
                return true;
            }
        dtype = default;
        return false;
    }

    /// <summary>The engine dtype a stored dtype is read as, or null when the engine does not read it.</summary>
    public static DType? ReadsAs(this SafeDType t) => t switch
    {
        SafeDType.F32 or SafeDType.BF16 or SafeDType.F16 => DType.F32,
        SafeDType.F64 => DType.F64,
        SafeDType.I32 or SafeDType.I64 => DType.I32,
        _ => null,
    };

    /// <summary>The stored dtype an engine tensor is written as.</summary>
    public static SafeDType From(DType t) => t switch
    {
        DType.F32 => SafeDType.F32,
        DType.F64 => SafeDType.F64,
        DType.I32 => SafeDType.I32,
        DType.BF16 => SafeDType.BF16,
        DType.F16 => SafeDType.F16,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    public const string Supported = "F32, F64, I32, I64 (read as int32), BF16 and F16 (read as float32)";
}
