using System.Runtime.InteropServices;
using Kernels.Bindings.Cuda;

namespace Kernels.Ops.Elementwise;

/// <summary>The cuda path of <see cref="ElementwiseNative"/>: the __global__ functions of
/// native/elementwise.cu launched as its host wrappers launch them (blocks of 256, grid from
/// kernels_grid_for), arguments of exactly the kernels' C parameter types (int, float, unsigned,
/// pointers as ulong, long long as long, the by-value parameter structs as the same layout).</summary>
public sealed unsafe partial class ElementwiseNative
{
    // Indices into _cuda, in the order of the names given to it.
    private const int FnBinary = 0, FnUnary = 1, FnScalar = 2, FnSumToShape = 3, FnFillU32 = 4, FnFillU64 = 5,
        FnCopyU32 = 6, FnCopyU64 = 7, FnCast = 8, FnAxpby = 9, FnAdd = 10, FnMul = 11;

    internal static readonly string[] CudaKernels =
    [
        "elementwise_binary_f32", "elementwise_unary_f32", "elementwise_scalar_f32", "elementwise_sum_to_shape_f32",
        "elementwise_fill_u32", "elementwise_fill_u64", "elementwise_copy_u32", "elementwise_copy_u64", "elementwise_cast",
        "elementwise_axpby_f32", "elementwise_add_f32", "elementwise_mul_f32",
    ];

    private readonly NativeFunctions? _cuda = device is CudaDevice c ? new NativeFunctions(c, "elementwise", CudaKernels) : null;

    // Arguments: at most 6 values plus one parameter struct (272 bytes), with alignment slack.
    private const int MaxArgs = 6, StorageBytes = 512;

    /// <summary>struct BroadcastParams of elementwise.cu: int rank, then (at offset 8) three long
    /// long[8] arrays; 200 bytes, 8-aligned.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct BroadcastParams
    {
        public int Rank;
        private readonly int _pad;
        public fixed long Dims[MaxRank];
        public fixed long StrideA[MaxRank];
        public fixed long StrideB[MaxRank];
    }

    /// <summary>struct SumToShapeParams: int kept_rank, reduced_rank; four long long[8] arrays;
    /// long long reduced_count. 272 bytes, 8-aligned.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SumToShapeParams
    {
        public int KeptRank, ReducedRank;
        public fixed long KeptDims[MaxRank];
        public fixed long KeptStride[MaxRank];
        public fixed long ReducedDims[MaxRank];
        public fixed long ReducedStride[MaxRank];
        public long ReducedCount;
    }

    /// <summary>Bytes of the by-value parameter structs as passed (tests compare with the PTX .param sizes).</summary>
    internal static int BroadcastParamsBytes => sizeof(BroadcastParams);

    internal static int SumToShapeParamsBytes => sizeof(SumToShapeParams);

    private void Launch(int function, long n, scoped in KernelArguments args)
    {
        var fn = _cuda![function];
        _cuda.Device.Stream.Launch(fn, NativeModules.GridFor(n), NativeModules.Block, 0, args);
    }

    private void BinaryCuda(CudaDevice cuda, BinaryOp op, in BroadcastShape shape, DeviceBuffer a, DeviceBuffer b,
        DeviceBuffer y)
    {
        ulong pa = CudaF32(a, cuda), pb = CudaF32(b, cuda), py = CudaF32(y, cuda);
        long n = shape.Out.Numel;
        if (shape.A == shape.Out && shape.B == shape.Out && op is BinaryOp.Add or BinaryOp.Mul)
        {
            if (n <= 0) return;
            // elementwise_{add,mul}_f32(const float* a, const float* b, float* y, long long n)
            byte* sameStorage = stackalloc byte[StorageBytes];
            nint* sameSlots = stackalloc nint[MaxArgs];
            var same = new KernelArguments(sameSlots, MaxArgs, sameStorage, StorageBytes);
            same.Add(pa);
            same.Add(pb);
            same.Add(py);
            same.Add(n);
            Launch(op == BinaryOp.Add ? FnAdd : FnMul, n, same);
            return;
        }
        var p = default(BroadcastParams);
        p.Rank = BroadcastAxes(shape, new Span<long>(p.Dims, MaxRank), new Span<long>(p.StrideA, MaxRank),
            new Span<long>(p.StrideB, MaxRank));
        if (n <= 0) return;
        // elementwise_binary_f32(int op, BroadcastParams p, const float* a, const float* b, float* y, long long n)
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add((int)op);
        args.Add(p);
        args.Add(pa);
        args.Add(pb);
        args.Add(py);
        args.Add(n);
        Launch(FnBinary, n, args);
    }

    private void UnaryCuda(CudaDevice cuda, UnaryOp op, long n, DeviceBuffer x, DeviceBuffer y)
    {
        ulong px = CudaF32(x, cuda), py = CudaF32(y, cuda);
        if (n <= 0) return;
        // elementwise_unary_f32(int op, const float* x, float* y, long long n)
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add((int)op);
        args.Add(px);
        args.Add(py);
        args.Add(n);
        Launch(FnUnary, n, args);
    }

    private void ScalarCuda(CudaDevice cuda, ScalarOp op, float s, long n, DeviceBuffer x, DeviceBuffer y)
    {
        ulong px = CudaF32(x, cuda), py = CudaF32(y, cuda);
        if (n <= 0) return;
        // elementwise_scalar_f32(int op, float s, const float* x, float* y, long long n)
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add((int)op);
        args.Add(s);
        args.Add(px);
        args.Add(py);
        args.Add(n);
        Launch(FnScalar, n, args);
    }

    private void FillCuda(CudaDevice cuda, double value, long n, DeviceBuffer y)
    {
        ulong py = CudaBuffer.Of(y, cuda).Pointer;
        if (y.DType is not (DType.F32 or DType.I32 or DType.F64)) throw Unsupported(nameof(Fill), y.DType);
        if (n <= 0) return;
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        // elementwise_fill_u32(unsigned value, unsigned* y, long long n) / _u64(unsigned long long, ...)
        switch (y.DType)
        {
            case DType.F32: args.Add(BitConverter.SingleToUInt32Bits((float)value)); break;
            case DType.I32: args.Add(unchecked((uint)(int)value)); break;
            default: args.Add(BitConverter.DoubleToUInt64Bits(value)); break;
        }
        args.Add(py);
        args.Add(n);
        Launch(y.DType == DType.F64 ? FnFillU64 : FnFillU32, n, args);
    }

    private void CopyCuda(CudaDevice cuda, long n, DeviceBuffer x, DeviceBuffer y)
    {
        ulong px = CudaBuffer.Of(x, cuda).Pointer, py = CudaBuffer.Of(y, cuda).Pointer;
        if (y.DType is not (DType.F32 or DType.I32 or DType.F64)) throw Unsupported(nameof(Copy), y.DType);
        if (n <= 0) return;
        // elementwise_copy_u32 / _u64(const word* x, word* y, long long n)
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(px);
        args.Add(py);
        args.Add(n);
        Launch(y.DType == DType.F64 ? FnCopyU64 : FnCopyU32, n, args);
    }

    private void AxpbyCuda(CudaDevice cuda, float alpha, DeviceBuffer x, float beta, long n, DeviceBuffer y)
    {
        ulong px = CudaF32(x, cuda), py = CudaF32(y, cuda);
        if (n <= 0) return;
        // elementwise_axpby_f32(float alpha, const float* x, float beta, float* y, long long n)
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(alpha);
        args.Add(px);
        args.Add(beta);
        args.Add(py);
        args.Add(n);
        Launch(FnAxpby, n, args);
    }

    private const long SumBlockMin = 64;

    private void SumToShapeCuda(CudaDevice cuda, long outputLength, int kept, ReadOnlySpan<long> keptDims,
        ReadOnlySpan<long> keptStride, int reduced, ReadOnlySpan<long> redDims, ReadOnlySpan<long> redStride,
        DeviceBuffer x, DeviceBuffer y)
    {
        ulong px = CudaF32(x, cuda), py = CudaF32(y, cuda);
        if (outputLength <= 0) return;
        // As kernels_elementwise_sum_to_shape_f32 fills it: reduced_count is the product of the
        // summed extents (1 when nothing is summed).
        var p = default(SumToShapeParams);
        p.KeptRank = kept;
        p.ReducedRank = reduced;
        p.ReducedCount = 1;
        for (int d = 0; d < kept; d++)
        {
            p.KeptDims[d] = keptDims[d];
            p.KeptStride[d] = keptStride[d];
        }
        for (int d = 0; d < reduced; d++)
        {
            p.ReducedDims[d] = redDims[d];
            p.ReducedStride[d] = redStride[d];
            p.ReducedCount *= redDims[d];
        }
        // elementwise_sum_to_shape_f32(SumToShapeParams p, const float* x, float* y, long long n_out)
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(p);
        args.Add(px);
        args.Add(py);
        args.Add(outputLength);
        // From SumBlockMin summed elements the kernel gives each output a block of 256 threads
        // (KERNELS_SUM_BLOCK_MIN of elementwise.cu).
        Launch(FnSumToShape, p.ReducedCount >= SumBlockMin ? outputLength * NativeModules.Block : outputLength, args);
    }

    private void CastCuda(CudaDevice cuda, int which, long n, DeviceBuffer x, DeviceBuffer y)
    {
        ulong px = CudaBuffer.Of(x, cuda).Pointer, py = CudaBuffer.Of(y, cuda).Pointer;
        if (n <= 0) return;
        // elementwise_cast(int which, const void* x, void* y, long long n)
        byte* storage = stackalloc byte[StorageBytes];
        nint* slots = stackalloc nint[MaxArgs];
        var args = new KernelArguments(slots, MaxArgs, storage, StorageBytes);
        args.Add(which);
        args.Add(px);
        args.Add(py);
        args.Add(n);
        Launch(FnCast, n, args);
    }

    private static ulong CudaF32(DeviceBuffer b, CudaDevice device)
    {
        var c = CudaBuffer.Of(b, device);
        if (c.DType != DType.F32)
            throw new ArgumentException($"Elementwise: a {c.DType.Name()} buffer was passed where float32 was expected");
        return c.Pointer;
    }
}
