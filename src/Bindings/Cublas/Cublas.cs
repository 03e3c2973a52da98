using System.Runtime.InteropServices;
using Kernels.Bindings.Cuda;

namespace Kernels.Bindings.Cublas;

/// <summary>A cuBLAS or cuBLASLt call failed; the message names the call and the status.</summary>
public sealed class CublasException(string call, int status, string message) : Exception(message)
{
    public string Call { get; } = call;

    /// <summary>The cublasStatus_t (0 is success).</summary>
    public int Status { get; } = status;
}

public enum CublasOperation { None = 0, Transpose = 1 }

/// <summary>cudaDataType_t values used here.</summary>
public enum CudaDataType { Float32 = 0, Float16 = 2, BFloat16 = 14 }

/// <summary>cublasComputeType_t values used here.</summary>
public enum CublasComputeType { Float32 = 68, Float32FastTf32 = 77 }

/// <summary>A cuBLAS handle (cublasDestroy on Dispose; see <see cref="CudaHandle"/> for the
/// no-free-in-finalizer rule).</summary>
public sealed class CublasHandle : CudaHandle
{
    internal CublasHandle(nint h, nint ctx) : base(h, ctx) { }

    protected override unsafe bool ReleaseHandle() => ReleaseIn("cublasDestroy_v2", h => Cublas.Functions.Destroy(h));
}

/// <summary>Thin binding of cuBLAS (v2 API). cuBLAS is column-major. A row-major caller computes
/// C = A·B (A [M,K], B [K,N], C [M,N], all row-major) by asking for Cᵀ = Bᵀ·Aᵀ, which is the
/// same memory read column-major: Sgemm(None, None, m: N, n: M, k: K, B, ldb: N, A, lda: K, C,
/// ldc: N) — swap the operands and the M/N extents; see <see cref="SgemmRowMajor"/>. Scalars
/// (alpha, beta) are host values (the default pointer mode). Device operands are CUdeviceptr.</summary>
public static unsafe class Cublas
{
    public static readonly VersionedLibrary Library = new("cuBLAS (libcublas)",
        OperatingSystem.IsWindows()
            ? ["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"]
            : ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"]);

    internal sealed class Api
    {
        public readonly delegate* unmanaged<nint*, int> Create;
        public readonly delegate* unmanaged<nint, int> Destroy;
        public readonly delegate* unmanaged<nint, nint, int> SetStream;
        public readonly delegate* unmanaged<int, int*, int> GetProperty;
        public readonly delegate* unmanaged<int, byte*> GetStatusName;
        public readonly delegate* unmanaged<int, byte*> GetStatusString;
        public readonly delegate* unmanaged<nint, int, int, int, int, int, float*, ulong, int, ulong, int, float*, ulong, int, int> Sgemm;
        public readonly delegate* unmanaged<nint, int, int, int, int, int, float*, ulong, int, long, ulong, int, long, float*, ulong, int, long, int, int> SgemmStridedBatched;
        public readonly delegate* unmanaged<nint, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int> GemmEx;

        public Api(VersionedLibrary lib)
        {
            Create = (delegate* unmanaged<nint*, int>)lib.Export("cublasCreate_v2");
            Destroy = (delegate* unmanaged<nint, int>)lib.Export("cublasDestroy_v2");
            SetStream = (delegate* unmanaged<nint, nint, int>)lib.Export("cublasSetStream_v2");
            GetProperty = (delegate* unmanaged<int, int*, int>)lib.Export("cublasGetProperty");
            // Since cuBLAS 11.4; the managed table answers for older ones.
            GetStatusName = (delegate* unmanaged<int, byte*>)lib.TryExport("cublasGetStatusName");
            GetStatusString = (delegate* unmanaged<int, byte*>)lib.TryExport("cublasGetStatusString");
            Sgemm = (delegate* unmanaged<nint, int, int, int, int, int, float*, ulong, int, ulong, int, float*, ulong, int, int>)lib.Export("cublasSgemm_v2");
            SgemmStridedBatched = (delegate* unmanaged<nint, int, int, int, int, int, float*, ulong, int, long, ulong, int, long, float*, ulong, int, long, int, int>)lib.Export("cublasSgemmStridedBatched");
            GemmEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int>)lib.Export("cublasGemmEx");
        }
    }

    private static readonly Lazy<(Api? Api, string Reason)> s_api = new(() =>
    {
        if (!Library.IsLoaded) return (null, Library.Reason);
        try
        {
            return (new Api(Library), "");
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, $"cuBLAS library is incomplete: {e.Message}");
        }
    });

    public static bool IsAvailable => s_api.Value.Api is not null;

    /// <summary>Why cuBLAS is unusable ("" when it loaded), listing every library name tried.</summary>
    public static string Reason => s_api.Value.Reason;

    internal static Api Functions => s_api.Value.Api ?? throw new CublasException("load", -1, $"cuBLAS is unavailable: {Reason}");

    /// <summary>The library version as (major, minor, patch); needs no GPU.</summary>
    public static (int Major, int Minor, int Patch) Version
    {
        get
        {
            int a, b, c;
            Check(Functions.GetProperty(0, &a), "cublasGetProperty");
            Check(Functions.GetProperty(1, &b), "cublasGetProperty");
            Check(Functions.GetProperty(2, &c), "cublasGetProperty");
            return (a, b, c);
        }
    }

    /// <summary>The cublasStatus_t name for the documented codes, null for others.</summary>
    public static string? KnownStatusName(int status) => status switch
    {
        0 => "CUBLAS_STATUS_SUCCESS",
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => null,
    };

    /// <summary>"call failed: NAME (code): text" (the library's own strings when it has them).</summary>
    public static string Message(string call, int status)
    {
        string? name = null, text = null;
        var api = s_api.Value.Api;
        if (api is not null && api.GetStatusName != null) name = Marshal.PtrToStringUTF8((nint)api.GetStatusName(status));
        if (api is not null && api.GetStatusString != null) text = Marshal.PtrToStringUTF8((nint)api.GetStatusString(status));
        name ??= KnownStatusName(status) ?? "cuBLAS status";
        return string.IsNullOrEmpty(text) || text == name ? $"{call} failed: {name} ({status})" : $"{call} failed: {name} ({status}): {text}";
    }

    internal static void Check(int status, string call)
    {
        if (status != 0) throw new CublasException(call, status, Message(call, status));
    }

    /// <summary>The current CUDA context when the driver is up, else 0 (the handle then has no
    /// context to push when it is released).</summary>
    internal static nint ContextOrZero()
    {
        if (!CudaDriver.TryInitialize(out _)) return 0;
        nint ctx;
        return CudaDriver.Api.CtxGetCurrent(&ctx) == 0 ? ctx : 0;
    }

    /// <summary>cublasCreate in the current context (make the engine's context current first).</summary>
    public static CublasHandle Create()
    {
        var api = Functions;
        nint h;
        Check(api.Create(&h), "cublasCreate_v2");
        return new CublasHandle(h, ContextOrZero());
    }

    public static void SetStream(CublasHandle handle, CudaStream stream) =>
        Check(Functions.SetStream(handle.DangerousGetHandle(), stream.DangerousGetHandle()), "cublasSetStream_v2");

    /// <summary>Column-major C = alpha·op(A)·op(B) + beta·C.</summary>
    public static void Sgemm(CublasHandle handle, CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float alpha, ulong a, int lda, ulong b, int ldb, float beta, ulong c, int ldc) =>
        Check(Functions.Sgemm(handle.DangerousGetHandle(), (int)transA, (int)transB, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc), "cublasSgemm_v2");

    /// <summary>Row-major C[M,N] = A[M,K]·B[K,N] (contiguous), by the operand swap described above.</summary>
    public static void SgemmRowMajor(CublasHandle handle, int m, int n, int k, ulong a, ulong b, ulong c, float alpha = 1, float beta = 0) =>
        Sgemm(handle, CublasOperation.None, CublasOperation.None, n, m, k, alpha, b, n, a, k, beta, c, n);

    /// <summary>Column-major batched GEMM; matrix i of each operand starts stride·i elements in.</summary>
    public static void SgemmStridedBatched(CublasHandle handle, CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float alpha, ulong a, int lda, long strideA, ulong b, int ldb, long strideB, float beta, ulong c, int ldc, long strideC, int batchCount) =>
        Check(Functions.SgemmStridedBatched(handle.DangerousGetHandle(), (int)transA, (int)transB, m, n, k, &alpha, a, lda, strideA,
            b, ldb, strideB, &beta, c, ldc, strideC, batchCount), "cublasSgemmStridedBatched");

    /// <summary>Column-major GEMM with typed operands (e.g. bf16/fp16 A and B, fp32 C) and an fp32
    /// compute type; alpha and beta are fp32 (the scale type of a 32F compute type).</summary>
    public static void GemmEx(CublasHandle handle, CublasOperation transA, CublasOperation transB, int m, int n, int k,
        float alpha, ulong a, CudaDataType aType, int lda, ulong b, CudaDataType bType, int ldb,
        float beta, ulong c, CudaDataType cType, int ldc, CublasComputeType compute = CublasComputeType.Float32)
    {
        const int GemmDefault = -1; // CUBLAS_GEMM_DEFAULT: let cuBLAS pick
        Check(Functions.GemmEx(handle.DangerousGetHandle(), (int)transA, (int)transB, m, n, k, &alpha, a, (int)aType, lda,
            b, (int)bType, ldb, &beta, c, (int)cType, ldc, (int)compute, GemmDefault), "cublasGemmEx");
    }
}
