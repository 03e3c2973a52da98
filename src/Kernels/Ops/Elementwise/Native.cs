using Kernels.Bindings.Emu;
using Kernels.Registry;

namespace Kernels.Ops.Elementwise;

/// <summary>native/elementwise.cu on the emu device (libkernels_emu.so) and on cuda devices (the
/// module from <see cref="NativeModules"/>, launched with the host wrappers' geometry: the cuda
/// path is in Native.Cuda.cs). Arithmetic is float32 only (float64 is refused: gradient checks run
/// on the cpu); Fill, Copy and Cast take every dtype the family has, so tensors of any dtype can be
/// created, cloned and converted on the device.</summary>
[KernelImplementation("native", 20, DeviceKind.Emu, DeviceKind.Cuda)]
public sealed unsafe partial class ElementwiseNative(Device device) : IElementwise
{
    private const int MaxRank = 8;
    private IElementwise? _ilgpu;

    private static int NonUnitAxes(in Shape shape)
    {
        int k = 0;
        for (int i = 0; i < shape.Rank; i++) k += shape[i] == 1 ? 0 : 1;
        return k;
    }

    public void Binary(BinaryOp op, in BroadcastShape shape, DeviceBuffer a, DeviceBuffer b, DeviceBuffer y)
    {
        RequireF32(y, nameof(Binary));
        long n = shape.Out.Numel;
        if (device is CudaDevice cuda)
        {
            // More non-unit axes than the kernel's parameter block holds: the ILGPU kernels split
            // such shapes on the host, so hand the call to them rather than fail.
            if (NonUnitAxes(shape.Out) > MaxRank) (_ilgpu ??= new ElementwiseIlgpu(device)).Binary(op, shape, a, b, y);
            else BinaryCuda(cuda, op, shape, a, b, y);
            return;
        }
        if (shape.A == shape.Out && shape.B == shape.Out && op is BinaryOp.Add or BinaryOp.Mul)
        {
            int rc = op == BinaryOp.Add
                ? EmuNative.AddF32(F32(a), F32(b), F32(y), n, 0)
                : EmuNative.MulF32(F32(a), F32(b), F32(y), n, 0);
            EmuNative.Check(rc, op == BinaryOp.Add ? "elementwise_add_f32" : "elementwise_mul_f32");
            return;
        }
        Span<long> dims = stackalloc long[MaxRank], sa = stackalloc long[MaxRank], sb = stackalloc long[MaxRank];
        int rank = BroadcastAxes(shape, dims, sa, sb);
        fixed (long* pd = dims, pa = sa, pb = sb)
            EmuNative.Check(EmuNative.BinaryF32((int)op, rank, pd, pa, pb, F32(a), F32(b), F32(y), n, 0),
                "elementwise_binary_f32");
    }

    /// <summary>The output's non-unit axes with each operand's element stride (0 where broadcast);
    /// returns the rank (1 to 8: a scalar output becomes one axis of extent 1).</summary>
    private static int BroadcastAxes(in BroadcastShape shape, Span<long> dims, Span<long> sa, Span<long> sb)
    {
        // Axes of extent 1 in the output carry no index; dropping them keeps most shapes within 8.
        int rank = 0, outRank = shape.Out.Rank;
        for (int i = 0; i < outRank; i++)
        {
            int d = shape.Out[i];
            if (d == 1) continue;
            if (rank == MaxRank)
                throw new NotSupportedException(
                    $"Elementwise.Binary: the native kernel takes at most {MaxRank} non-unit axes, got shape {shape.Out}");
            dims[rank] = d;
            sa[rank] = Stride(shape.A, i, outRank);
            sb[rank] = Stride(shape.B, i, outRank);
            rank++;
        }
        if (rank == 0)
        {
            dims[0] = 1;
            sa[0] = sb[0] = 0;
            rank = 1;
        }
        return rank;
    }

    public void Unary(UnaryOp op, long n, DeviceBuffer x, DeviceBuffer y)
    {
        RequireF32(y, nameof(Unary));
        if (device is CudaDevice cuda)
        {
            UnaryCuda(cuda, op, n, x, y);
            return;
        }
        EmuNative.Check(EmuNative.UnaryF32((int)op, F32(x), F32(y), n, 0), "elementwise_unary_f32");
    }

    public void Scalar(ScalarOp op, double scalar, long n, DeviceBuffer x, DeviceBuffer y)
    {
        RequireF32(y, nameof(Scalar));
        if (device is CudaDevice cuda)
        {
            ScalarCuda(cuda, op, (float)scalar, n, x, y);
            return;
        }
        EmuNative.Check(EmuNative.ScalarF32((int)op, (float)scalar, F32(x), F32(y), n, 0), "elementwise_scalar_f32");
    }

    public void Fill(double value, long n, DeviceBuffer y)
    {
        if (device is CudaDevice cuda)
        {
            FillCuda(cuda, value, n, y);
            return;
        }
        var p = EmuBuffer.Of(y).Pointer;
        int rc = y.DType switch
        {
            DType.F32 => EmuNative.FillU32(BitConverter.SingleToUInt32Bits((float)value), (uint*)p, n, 0),
            DType.I32 => EmuNative.FillU32(unchecked((uint)(int)value), (uint*)p, n, 0),
            DType.F64 => EmuNative.FillU64(BitConverter.DoubleToUInt64Bits(value), (ulong*)p, n, 0),
            _ => throw Unsupported(nameof(Fill), y.DType),
        };
        EmuNative.Check(rc, y.DType == DType.F64 ? "elementwise_fill_u64" : "elementwise_fill_u32");
    }

    public void Copy(long n, DeviceBuffer x, DeviceBuffer y)
    {
        if (x.DType != y.DType)
            throw new ArgumentException($"Elementwise.Copy: {x.DType.Name()} into {y.DType.Name()}; use Cast");
        if (device is CudaDevice cuda)
        {
            CopyCuda(cuda, n, x, y);
            return;
        }
        nint px = EmuBuffer.Of(x).Pointer, py = EmuBuffer.Of(y).Pointer;
        int rc = y.DType switch
        {
            DType.F32 or DType.I32 => EmuNative.CopyU32((uint*)px, (uint*)py, n, 0),
            DType.F64 => EmuNative.CopyU64((ulong*)px, (ulong*)py, n, 0),
            _ => throw Unsupported(nameof(Copy), y.DType),
        };
        EmuNative.Check(rc, y.DType == DType.F64 ? "elementwise_copy_u64" : "elementwise_copy_u32");
    }

    public void Axpby(double alpha, DeviceBuffer x, double beta, long n, DeviceBuffer y)
    {
        RequireF32(y, nameof(Axpby));
        if (device is CudaDevice cuda)
        {
            AxpbyCuda(cuda, (float)alpha, x, (float)beta, n, y);
            return;
        }
        EmuNative.Check(EmuNative.AxpbyF32((float)alpha, F32(x), (float)beta, F32(y), n, 0), "elementwise_axpby_f32");
    }

    public void SumToShape(Shape from, Shape to, DeviceBuffer x, DeviceBuffer y)
    {
        RequireF32(y, nameof(SumToShape));
        Span<long> keptDims = stackalloc long[MaxRank], keptStride = stackalloc long[MaxRank];
        Span<long> redDims = stackalloc long[MaxRank], redStride = stackalloc long[MaxRank];
        var (kept, reduced) = SumAxes(from, to, keptDims, keptStride, redDims, redStride);
        if (device is CudaDevice cuda)
        {
            SumToShapeCuda(cuda, to.Numel, kept, keptDims[(MaxRank - kept)..], keptStride[(MaxRank - kept)..], reduced,
                redDims[(MaxRank - reduced)..], redStride[(MaxRank - reduced)..], x, y);
            return;
        }
        fixed (long* kd = keptDims, ks = keptStride, rd = redDims, rs = redStride)
            EmuNative.Check(EmuNative.SumToShapeF32(kept, kd + (MaxRank - kept), ks + (MaxRank - kept), reduced,
                rd + (MaxRank - reduced), rs + (MaxRank - reduced), F32(x), F32(y), to.Numel, 0),
                "elementwise_sum_to_shape_f32");
    }

    /// <summary>The input's kept and summed axes with their row-major strides, each list filled at
    /// the end of its span (the last `kept` / `reduced` entries); returns the two counts.</summary>
    private static (int Kept, int Reduced) SumAxes(Shape from, Shape to, Span<long> keptDims, Span<long> keptStride,
        Span<long> redDims, Span<long> redStride)
    {
        int r = from.Rank, pad = r - to.Rank;
        int kept = 0, reduced = 0;
        long stride = 1;
        // Walk from the innermost axis so the input's row-major strides come out as we go; the
        // lists are filled back to front, then used from their ends.
        for (int i = r - 1; i >= 0; i--)
        {
            int f = from[i], t = i - pad >= 0 ? to[i - pad] : 1;
            if (f != 1)
            {
                if (t == f)
                {
                    if (kept == MaxRank) throw TooManyAxes(from);
                    keptDims[MaxRank - 1 - kept] = f;
                    keptStride[MaxRank - 1 - kept] = stride;
                    kept++;
                }
                else
                {
                    if (reduced == MaxRank) throw TooManyAxes(from);
                    redDims[MaxRank - 1 - reduced] = f;
                    redStride[MaxRank - 1 - reduced] = stride;
                    reduced++;
                }
            }
            stride *= f;
        }
        return (kept, reduced);
    }

    public void Cast(long n, DeviceBuffer x, DeviceBuffer y)
    {
        if (x.DType == y.DType)
        {
            Copy(n, x, y);
            return;
        }
        int which = (x.DType, y.DType) switch
        {
            (DType.F32, DType.F64) => 0,
            (DType.F64, DType.F32) => 1,
            (DType.I32, DType.F32) => 2,
            (DType.I32, DType.F64) => 3,
            _ => throw new NotSupportedException($"Cast: {x.DType.Name()} → {y.DType.Name()} is not supported"),
        };
        if (device is CudaDevice cuda)
        {
            CastCuda(cuda, which, n, x, y);
            return;
        }
        EmuNative.Check(EmuNative.Cast(which, (void*)EmuBuffer.Of(x).Pointer, (void*)EmuBuffer.Of(y).Pointer, n, 0),
            "elementwise_cast");
    }

    /// <summary>Element stride of the operand's axis aligned with output axis i (0 where broadcast).</summary>
    private static long Stride(Shape operand, int i, int outRank)
    {
        int j = i - (outRank - operand.Rank);
        if (j < 0 || operand[j] == 1) return 0;
        long s = 1;
        for (int k = j + 1; k < operand.Rank; k++) s *= operand[k];
        return s;
    }

    private static void RequireF32(DeviceBuffer y, string op)
    {
        if (y.DType != DType.F32)
            throw new NotSupportedException(
                $"Elementwise.{op}: the native kernels are float32 only, got {y.DType.Name()}; run float64 on the cpu device");
    }

    private static float* F32(DeviceBuffer b)
    {
        var e = EmuBuffer.Of(b);
        if (e.DType != DType.F32)
            throw new ArgumentException($"Elementwise: a {e.DType.Name()} buffer was passed where float32 was expected");
        return (float*)e.Pointer;
    }

    private static NotSupportedException Unsupported(string op, DType t) =>
        new($"Elementwise.{op}: dtype {t.Name()} is not supported by the native kernels");

    private static NotSupportedException TooManyAxes(Shape from) =>
        new($"Elementwise.SumToShape: the native kernel takes at most {MaxRank} kept and {MaxRank} summed axes, got {from}");
}
