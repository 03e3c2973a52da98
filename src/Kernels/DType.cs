namespace Kernels;

/// <summary>Element type of a buffer. F32 is the training type; F64 exists so that gradient
/// checks can run every op in double precision; I32 holds indices.</summary>
public enum DType
{
    F32,
    F64,
    I32,
    BF16,
    F16,
}

public static class DTypeExtensions
{
    public static int Size(this DType t) => t switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F64 => 8,
        DType.BF16 or DType.F16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    public static bool IsFloat(this DType t) => t is DType.F32 or DType.F64 or DType.BF16 or DType.F16;

    public static string Name(this DType t) => t switch
    {
        DType.F32 => "float32",
        DType.F64 => "float64",
        DType.I32 => "int32",
        DType.BF16 => "bfloat16",
        DType.F16 => "float16",
        _ => t.ToString(),
    };

    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.F32;
        if (typeof(T) == typeof(double)) return DType.F64;
        if (typeof(T) == typeof(int)) return DType.I32;
        throw new NotSupportedException($"no dtype for {typeof(T).Name}");
    }
}
