using System.Runtime.InteropServices;
using Kernels.Bindings.Cuda;

namespace Kernels.Bindings.Cublas;

/// <summary>cublasLtEpilogue_t values: what cublasLtMatmul applies to the product before storing.
/// The bias is a vector of D's row count (column-major), broadcast over the columns: for a
/// row-major Linear y[M,N] = x[M,K]·Wᵀ + b[N], computed as the column-major yᵀ[N,M], that is b.</summary>
public enum CublasLtEpilogue : uint
{
    Default = 1,
    Relu = 2,
    Bias = 4,
    ReluBias = 6,
    Gelu = 32,
    GeluBias = 36,
}

/// <summary>A cublasLt handle (cublasLtDestroy on Dispose; the no-free-in-finalizer rule of
/// <see cref="CudaHandle"/> applies).</summary>
public sealed class CublasLtHandle : CudaHandle
{
    internal CublasLtHandle(nint h, nint ctx) : base(h, ctx) { }

    protected override unsafe bool ReleaseHandle() => ReleaseIn("cublasLtDestroy", h => CublasLt.Functions.Destroy(h));
}

/// <summary>A host-side cublasLt descriptor (matmul or matrix layout). It holds host memory only,
/// so unlike the device handles it may be freed by its finalizer; Dispose it anyway.</summary>
public sealed unsafe class CublasLtDescriptor : SafeHandle
{
    private readonly delegate* unmanaged<nint, int> _destroy;

    internal CublasLtDescriptor(nint h, delegate* unmanaged<nint, int> destroy) : base(0, true)
    {
        SetHandle(h);
        _destroy = destroy;
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => _destroy(handle) == 0;
}

/// <summary>Thin binding of cuBLASLt: matmul with a fused bias / ReLU / GELU epilogue, fp32
/// compute and scale. Column-major like cuBLAS (row-major callers swap operands, see
/// <see cref="Cublas"/>). The algorithm is left to cublasLtMatmul's implicit heuristic (algo
/// null).</summary>
public static unsafe class CublasLt
{
    private const int DescComputeType = 0, DescScaleType = 1, DescTransA = 3, DescTransB = 4, DescEpilogue = 7, DescBiasPointer = 8;

    public static readonly VersionedLibrary Library = new("cuBLASLt (libcublasLt)",
        OperatingSystem.IsWindows()
            ? ["cublasLt64_13.dll", "cublasLt64_12.dll", "cublasLt64_11.dll"]
            : ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"]);

    internal sealed class Api
    {
        public readonly delegate* unmanaged<nint*, int> Create;
        public readonly delegate* unmanaged<nint, int> Destroy;
        public readonly delegate* unmanaged<nuint> GetVersion;
        public readonly delegate* unmanaged<int, byte*> GetStatusName;
        public readonly delegate* unmanaged<int, byte*> GetStatusString;
        public readonly delegate* unmanaged<nint*, int, int, int> DescCreate;
        public readonly delegate* unmanaged<nint, int, void*, nuint, int> DescSetAttribute;
        public readonly delegate* unmanaged<nint, int> DescDestroy;
        public readonly delegate* unmanaged<nint*, int, ulong, ulong, long, int> LayoutCreate;
        public readonly delegate* unmanaged<nint, int> LayoutDestroy;
        public readonly delegate* unmanaged<nint, nint, void*, ulong, nint, ulong, nint, void*, ulong, nint, ulong, nint, void*, ulong, nuint, nint, int> Matmul;

        public Api(VersionedLibrary lib)
        {
            Create = (delegate* unmanaged<nint*, int>)lib.Export("cublasLtCreate");
            Destroy = (delegate* unmanaged<nint, int>)lib.Export("cublasLtDestroy");
            GetVersion = (delegate* unmanaged<nuint>)lib.Export("cublasLtGetVersion");
            GetStatusName = (delegate* unmanaged<int, byte*>)lib.TryExport("cublasLtGetStatusName");
            GetStatusString = (delegate* unmanaged<int, byte*>)lib.TryExport("cublasLtGetStatusString");
            DescCreate = (delegate* unmanaged<nint*, int, int, int>)lib.Export("cublasLtMatmulDescCreate");
            DescSetAttribute = (delegate* unmanaged<nint, int, void*, nuint, int>)lib.Export("cublasLtMatmulDescSetAttribute");
            DescDestroy = (delegate* unmanaged<nint, int>)lib.Export("cublasLtMatmulDescDestroy");
            LayoutCreate = (delegate* unmanaged<nint*, int, ulong, ulong, long, int>)lib.Export("cublasLtMatrixLayoutCreate");
            LayoutDestroy = (delegate* unmanaged<nint, int>)lib.Export("cublasLtMatrixLayoutDestroy");
            Matmul = (delegate* unmanaged<nint, nint, void*, ulong, nint, ulong, nint, void*, ulong, nint, ulong, nint, void*, ulong, nuint, nint, int>)lib.Export("cublasLtMatmul");
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
            return (null, $"cuBLASLt library is incomplete: {e.Message}");
        }
    });

    public static bool IsAvailable => s_api.Value.Api is not null;

    public static string Reason => s_api.Value.Reason;

    internal static Api Functions => s_api.Value.Api ?? throw new CublasException("load", -1, $"cuBLASLt is unavailable: {Reason}");

    /// <summary>cublasLtGetVersion (e.g. 110 + ... : major·10000 + minor·100 + patch); needs no GPU.</summary>
    public static long Version => (long)Functions.GetVersion();

    private static void Check(int status, string call)
    {
        if (status == 0) return;
        var api = s_api.Value.Api;
        string? name = api is not null && api.GetStatusName != null ? Marshal.PtrToStringUTF8((nint)api.GetStatusName(status)) : null;
        name ??= Cublas.KnownStatusName(status) ?? "cuBLAS status";
        throw new CublasException(call, status, $"{call} failed: {name} ({status})");
    }

    public static CublasLtHandle Create()
    {
        nint h;
        Check(Functions.Create(&h), "cublasLtCreate");
        return new CublasLtHandle(h, Cublas.ContextOrZero());
    }

    /// <summary>A matmul descriptor: compute type, fp32 scale, transposes and epilogue. A bias
    /// epilogue needs <paramref name="bias"/> (a device vector of D's row count, fp32).</summary>
    public static CublasLtDescriptor CreateMatmulDesc(CublasOperation transA, CublasOperation transB,
        CublasLtEpilogue epilogue = CublasLtEpilogue.Default, ulong bias = 0, CublasComputeType compute = CublasComputeType.Float32)
    {
        bool needsBias = epilogue is CublasLtEpilogue.Bias or CublasLtEpilogue.ReluBias or CublasLtEpilogue.GeluBias;
        if (needsBias && bias == 0) throw new ArgumentException($"CublasLt.CreateMatmulDesc: epilogue {epilogue} needs a bias pointer", nameof(bias));
        if (!needsBias && bias != 0) throw new ArgumentException($"CublasLt.CreateMatmulDesc: epilogue {epilogue} takes no bias, but one was given", nameof(bias));
        var api = Functions;
        nint d;
        Check(api.DescCreate(&d, (int)compute, (int)CudaDataType.Float32), "cublasLtMatmulDescCreate");
        var desc = new CublasLtDescriptor(d, api.DescDestroy);
        try
        {
            int ta = (int)transA, tb = (int)transB;
            uint ep = (uint)epilogue;
            Check(api.DescSetAttribute(d, DescTransA, &ta, sizeof(int)), "cublasLtMatmulDescSetAttribute(TRANSA)");
            Check(api.DescSetAttribute(d, DescTransB, &tb, sizeof(int)), "cublasLtMatmulDescSetAttribute(TRANSB)");
            Check(api.DescSetAttribute(d, DescEpilogue, &ep, sizeof(uint)), "cublasLtMatmulDescSetAttribute(EPILOGUE)");
            if (needsBias) Check(api.DescSetAttribute(d, DescBiasPointer, &bias, (nuint)sizeof(ulong)), "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
        }
        catch
        {
            desc.Dispose();
            throw;
        }
        return desc;
    }

    /// <summary>A column-major matrix layout: rows × cols with leading dimension ld (elements).</summary>
    public static CublasLtDescriptor CreateLayout(CudaDataType type, long rows, long cols, long ld)
    {
        if (rows <= 0 || cols <= 0 || ld < rows)
            throw new ArgumentException($"CublasLt.CreateLayout: rows {rows}, cols {cols}, ld {ld} (need positive extents and ld >= rows)");
        var api = Functions;
        nint l;
        Check(api.LayoutCreate(&l, (int)type, (ulong)rows, (ulong)cols, ld), "cublasLtMatrixLayoutCreate");
        return new CublasLtDescriptor(l, api.LayoutDestroy);
    }

    /// <summary>D = alpha·op(A)·op(B) + beta·C, then the descriptor's epilogue (C may be D).</summary>
    public static void Matmul(CublasLtHandle handle, CublasLtDescriptor desc, float alpha, ulong a, CublasLtDescriptor aLayout,
        ulong b, CublasLtDescriptor bLayout, float beta, ulong c, CublasLtDescriptor cLayout, ulong d, CublasLtDescriptor dLayout,
        CudaStream? stream, ulong workspace = 0, long workspaceBytes = 0)
    {
        Check(Functions.Matmul(handle.DangerousGetHandle(), desc.DangerousGetHandle(), &alpha, a, aLayout.DangerousGetHandle(),
            b, bLayout.DangerousGetHandle(), &beta, c, cLayout.DangerousGetHandle(), d, dLayout.DangerousGetHandle(),
            null, workspace, (nuint)workspaceBytes, stream?.DangerousGetHandle() ?? 0), "cublasLtMatmul");
    }

    /// <summary>Column-major D[m,n] = epilogue(op(A)·op(B) + bias), fp32 D, A and B of
    /// <paramref name="inputType"/>, descriptors made and freed around the call.</summary>
    public static void MatmulEpilogue(CublasLtHandle handle, CudaStream? stream, CublasLtEpilogue epilogue,
        CublasOperation transA, CublasOperation transB, int m, int n, int k, CudaDataType inputType,
        ulong a, int lda, ulong b, int ldb, ulong d, int ldd, ulong bias = 0, ulong workspace = 0, long workspaceBytes = 0)
    {
        using var desc = CreateMatmulDesc(transA, transB, epilogue, bias);
        using var aLayout = transA == CublasOperation.None ? CreateLayout(inputType, m, k, lda) : CreateLayout(inputType, k, m, lda);
        using var bLayout = transB == CublasOperation.None ? CreateLayout(inputType, k, n, ldb) : CreateLayout(inputType, n, k, ldb);
        using var dLayout = CreateLayout(CudaDataType.Float32, m, n, ldd);
        Matmul(handle, desc, 1f, a, aLayout, b, bLayout, 0f, d, dLayout, d, dLayout, stream, workspace, workspaceBytes);
    }
}
