namespace Kernels.Bindings.Cuda;

/// <summary>A CUDA driver call returned an error. The message names the call, the error name and
/// the driver's description of it.</summary>
public sealed class CudaException(string call, int code, string message) : Exception(message)
{
    /// <summary>The driver function that failed, e.g. "cuMemAlloc_v2".</summary>
    public string Call { get; } = call;

    /// <summary>The CUresult (0 is success).</summary>
    public int Code { get; } = code;
}

/// <summary>CUresult numbers to names. The driver's cuGetErrorName / cuGetErrorString are asked
/// first; this table is the fallback for when there is no driver (or a stub that answers nothing),
/// so a message never degrades to a bare number for the common codes.</summary>
public static class CudaErrors
{
    /// <summary>The name (e.g. "CUDA_ERROR_NO_DEVICE") for the codes of cuda.h that matter here,
    /// null for the others.</summary>
    public static string? KnownName(int code) => code switch
    {
        0 => "CUDA_SUCCESS",
        1 => "CUDA_ERROR_INVALID_VALUE",
        2 => "CUDA_ERROR_OUT_OF_MEMORY",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        4 => "CUDA_ERROR_DEINITIALIZED",
        34 => "CUDA_ERROR_STUB_LIBRARY",
        35 => "CUDA_ERROR_INSUFFICIENT_DRIVER",
        100 => "CUDA_ERROR_NO_DEVICE",
        101 => "CUDA_ERROR_INVALID_DEVICE",
        200 => "CUDA_ERROR_INVALID_IMAGE",
        201 => "CUDA_ERROR_INVALID_CONTEXT",
        209 => "CUDA_ERROR_NO_BINARY_FOR_GPU",
        218 => "CUDA_ERROR_INVALID_PTX",
        222 => "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        400 => "CUDA_ERROR_INVALID_HANDLE",
        500 => "CUDA_ERROR_NOT_FOUND",
        600 => "CUDA_ERROR_NOT_READY",
        700 => "CUDA_ERROR_ILLEGAL_ADDRESS",
        701 => "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        702 => "CUDA_ERROR_LAUNCH_TIMEOUT",
        719 => "CUDA_ERROR_LAUNCH_FAILED",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => null,
    };

    /// <summary>"cuX failed: NAME (code): description" — the one format every CUDA error uses.</summary>
    public static string Format(string call, int code, string? name, string? description)
    {
        name ??= KnownName(code) ?? "CUDA error";
        return string.IsNullOrEmpty(description) || description == name
            ? $"{call} failed: {name} ({code})"
            : $"{call} failed: {name} ({code}): {description}";
    }
}
