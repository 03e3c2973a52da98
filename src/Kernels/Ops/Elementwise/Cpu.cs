using System.Numerics;
using System.Numerics.Tensors;
using Kernels.Cpu;
using Kernels.Registry;

namespace Kernels.Ops.Elementwise;

/// <summary>Reference implementation. Broadcasting is reduced to rows: the shapes are coalesced
/// so the innermost axis is contiguous (or a broadcast scalar) in each operand, and each row runs
/// through TensorPrimitives.</summary>
[KernelImplementation("cpu", 0, DeviceKind.Cpu)]
public sealed class ElementwiseCpu : IElementwise
{
    public void Binary(BinaryOp op, in BroadcastShape shape, DeviceBuffer a, DeviceBuffer b, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Binary<float>(op, shape, a, b, y); break;
            case DType.F64: Binary<double>(op, shape, a, b, y); break;
            default: throw Unsupported(nameof(Binary), y.DType);
        }
    }

    public void Unary(UnaryOp op, long n, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Unary<float>(op, n, x, y); break;
            case DType.F64: Unary<double>(op, n, x, y); break;
            default: throw Unsupported(nameof(Unary), y.DType);
        }
    }

    public void Scalar(ScalarOp op, double scalar, long n, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Scalar(op, (float)scalar, n, x, y); break;
            case DType.F64: Scalar<double>(op, scalar, n, x, y); break;
            default: throw Unsupported(nameof(Scalar), y.DType);
        }
    }

    public void Fill(double value, long n, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: CpuBuffer.Span<float>(y)[..(int)n].Fill((float)value); break;
            case DType.F64: CpuBuffer.Span<double>(y)[..(int)n].Fill(value); break;
            case DType.I32: CpuBuffer.Span<int>(y)[..(int)n].Fill((int)value); break;
            default: throw Unsupported(nameof(Fill), y.DType);
        }
    }

    public void Copy(long n, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: CpuBuffer.Span<float>(x)[..(int)n].CopyTo(CpuBuffer.Span<float>(y)); break;
            case DType.F64: CpuBuffer.Span<double>(x)[..(int)n].CopyTo(CpuBuffer.Span<double>(y)); break;
            case DType.I32: CpuBuffer.Span<int>(x)[..(int)n].CopyTo(CpuBuffer.Span<int>(y)); break;
            default: throw Unsupported(nameof(Copy), y.DType);
        }
    }

    public void Axpby(double alpha, DeviceBuffer x, double beta, long n, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: Axpby((float)alpha, x, (float)beta, n, y); break;
            case DType.F64: Axpby<double>(alpha, x, beta, n, y); break;
            default: throw Unsupported(nameof(Axpby), y.DType);
        }
    }

    public void SumToShape(Shape from, Shape to, DeviceBuffer x, DeviceBuffer y)
    {
        switch (y.DType)
        {
            case DType.F32: SumToShape<float>(from, to, x, y); break;
            case DType.F64: SumToShape<double>(from, to, x, y); break;
            default: throw Unsupported(nameof(SumToShape), y.DType);
        }
    }

    public void Cast(long n, DeviceBuffer x, DeviceBuffer y)
    {
        int len = (int)n;
        switch (x.DType, y.DType)
        {
            case (DType.F32, DType.F64):
                {
                    var s = CpuBuffer.Span<float>(x); var d = CpuBuffer.Span<double>(y);
                    for (int i = 0; i < len; i++) d[i] = s[i];
                    break;
                }
            case (DType.F64, DType.F32):
                {
                    var s = CpuBuffer.Span<double>(x); var d = CpuBuffer.Span<float>(y);
                    for (int i = 0; i < len; i++) d[i] = (float)s[i];
                    break;
                }
            case (DType.I32, DType.F32):
                {
                    var s = CpuBuffer.Span<int>(x); var d = CpuBuffer.Span<float>(y);
                    for (int i = 0; i < len; i++) d[i] = s[i];
                    break;
                }
            case (DType.I32, DType.F64):
                {
                    var s = CpuBuffer.Span<int>(x); var d = CpuBuffer.Span<double>(y);
                    for (int i = 0; i < len; i++) d[i] = s[i];
                    break;
                }
            case var (a, b) when a == b: Copy(n, x, y); break;
            default: throw new NotSupportedException($"Cast: {x.DType.Name()} → {y.DType.Name()} is not supported");
        }
    }

    private static NotSupportedException Unsupported(string op, DType t) =>
        new($"Elementwise.{op}: dtype {t.Name()} is not supported on the cpu");

    // ---- binary with broadcasting -------------------------------------------------------------

    private static void Binary<T>(BinaryOp op, BroadcastShape s, DeviceBuffer a, DeviceBuffer b, DeviceBuffer y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var aa = CpuBuffer.Array<T>(a);
        var ba = CpuBuffer.Array<T>(b);
        var ya = CpuBuffer.Array<T>(y);
        var plan = BroadcastPlan.Create(s);
        long rows = plan.Rows;
        int inner = plan.Inner;
        CpuParallel.For(rows, inner, (r0, r1) =>
        {
            Span<long> idx = stackalloc long[plan.OuterDims.Length];
            for (long r = r0; r < r1; r++)
            {
                plan.Offsets(r, idx, out long ao, out long bo);
                var yr = ya.AsSpan((int)(r * inner), inner);
                Row(op, aa, (int)ao, plan.AInnerStride, ba, (int)bo, plan.BInnerStride, yr);
            }
        });
    }

    private static void Row<T>(BinaryOp op, T[] a, int ao, int aStride, T[] b, int bo, int bStride, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = y.Length;
        if (aStride == 1 && bStride == 1)
        {
            ReadOnlySpan<T> x = a.AsSpan(ao, n), z = b.AsSpan(bo, n);
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(x, z, y); return;
                case BinaryOp.Sub: TensorPrimitives.Subtract(x, z, y); return;
                case BinaryOp.Mul: TensorPrimitives.Multiply(x, z, y); return;
                case BinaryOp.Div: TensorPrimitives.Divide(x, z, y); return;
                case BinaryOp.Max: TensorPrimitives.Max(x, z, y); return;
                case BinaryOp.Min: TensorPrimitives.Min(x, z, y); return;
                case BinaryOp.Pow: TensorPrimitives.Pow(x, z, y); return;
            }
        }
        else if (aStride == 1)
        {
            ReadOnlySpan<T> x = a.AsSpan(ao, n);
            T z = b[bo];
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(x, z, y); return;
                case BinaryOp.Sub: TensorPrimitives.Subtract(x, z, y); return;
                case BinaryOp.Mul: TensorPrimitives.Multiply(x, z, y); return;
                case BinaryOp.Div: TensorPrimitives.Divide(x, z, y); return;
                case BinaryOp.Max: TensorPrimitives.Max(x, z, y); return;
                case BinaryOp.Min: TensorPrimitives.Min(x, z, y); return;
                case BinaryOp.Pow: TensorPrimitives.Pow(x, z, y); return;
            }
        }
        else if (bStride == 1)
        {
            T x = a[ao];
            ReadOnlySpan<T> z = b.AsSpan(bo, n);
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(z, x, y); return;
                case BinaryOp.Sub: TensorPrimitives.Subtract(x, z, y); return;
                case BinaryOp.Mul: TensorPrimitives.Multiply(z, x, y); return;
                case BinaryOp.Div: TensorPrimitives.Divide(x, z, y); return;
                case BinaryOp.Max: TensorPrimitives.Max(z, x, y); return;
                case BinaryOp.Min: TensorPrimitives.Min(z, x, y); return;
                case BinaryOp.Pow: TensorPrimitives.Pow(x, z, y); return;
            }
        }
        else
        {
            y.Fill(Apply(op, a[ao], b[bo]));
            return;
        }
        throw new ArgumentOutOfRangeException(nameof(op), op, null);
    }

    private static T Apply<T>(BinaryOp op, T x, T z) where T : unmanaged, IFloatingPointIeee754<T> => op switch
    {
        BinaryOp.Add => x + z,
        BinaryOp.Sub => x - z,
        BinaryOp.Mul => x * z,
        BinaryOp.Div => x / z,
        BinaryOp.Max => T.Max(x, z),
        BinaryOp.Min => T.Min(x, z),
        BinaryOp.Pow => T.Pow(x, z),
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    // ---- unary and scalar ---------------------------------------------------------------------

    private static void Unary<T>(UnaryOp op, long n, DeviceBuffer x, DeviceBuffer y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xa = CpuBuffer.Array<T>(x);
        var ya = CpuBuffer.Array<T>(y);
        CpuParallel.For(n, 8, (s, e) =>
        {
            ReadOnlySpan<T> xs = xa.AsSpan((int)s, (int)(e - s));
            Span<T> ys = ya.AsSpan((int)s, (int)(e - s));
            switch (op)
            {
                case UnaryOp.Neg: TensorPrimitives.Negate(xs, ys); break;
                case UnaryOp.Exp: TensorPrimitives.Exp(xs, ys); break;
                case UnaryOp.Log: TensorPrimitives.Log(xs, ys); break;
                case UnaryOp.Sqrt: TensorPrimitives.Sqrt(xs, ys); break;
                case UnaryOp.Rsqrt: TensorPrimitives.Sqrt(xs, ys); TensorPrimitives.Reciprocal(ys, ys); break;
                case UnaryOp.Abs: TensorPrimitives.Abs(xs, ys); break;
                case UnaryOp.Square: TensorPrimitives.Multiply(xs, xs, ys); break;
                case UnaryOp.Reciprocal: TensorPrimitives.Reciprocal(xs, ys); break;
                case UnaryOp.Sin: TensorPrimitives.Sin(xs, ys); break;
                case UnaryOp.Cos: TensorPrimitives.Cos(xs, ys); break;
                case UnaryOp.Sign:
                    // T.Sign throws on NaN; PyTorch's sign(NaN) is 0, which also keeps the max / min /
                    // abs backward masks (built from sign) defined on NaN inputs.
                    for (int i = 0; i < xs.Length; i++) ys[i] = T.IsNaN(xs[i]) ? T.Zero : T.CreateTruncating(T.Sign(xs[i]));
                    break;
                default: throw new ArgumentOutOfRangeException(nameof(op), op, null);
            }
        });
    }

    private static void Scalar<T>(ScalarOp op, T c, long n, DeviceBuffer x, DeviceBuffer y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xa = CpuBuffer.Array<T>(x);
        var ya = CpuBuffer.Array<T>(y);
        CpuParallel.For(n, 2, (s, e) =>
        {
            ReadOnlySpan<T> xs = xa.AsSpan((int)s, (int)(e - s));
            Span<T> ys = ya.AsSpan((int)s, (int)(e - s));
            switch (op)
            {
                case ScalarOp.Add: TensorPrimitives.Add(xs, c, ys); break;
                case ScalarOp.Mul: TensorPrimitives.Multiply(xs, c, ys); break;
                case ScalarOp.RSub: TensorPrimitives.Subtract(c, xs, ys); break;
                case ScalarOp.RDiv: TensorPrimitives.Divide(c, xs, ys); break;
                case ScalarOp.Pow: TensorPrimitives.Pow(xs, c, ys); break;
                case ScalarOp.Max: TensorPrimitives.Max(xs, c, ys); break;
                case ScalarOp.Min: TensorPrimitives.Min(xs, c, ys); break;
                default: throw new ArgumentOutOfRangeException(nameof(op), op, null);
            }
        });
    }

    private static void Axpby<T>(T alpha, DeviceBuffer x, T beta, long n, DeviceBuffer y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xa = CpuBuffer.Array<T>(x);
        var ya = CpuBuffer.Array<T>(y);
        CpuParallel.For(n, 2, (s, e) =>
        {
            ReadOnlySpan<T> xs = xa.AsSpan((int)s, (int)(e - s));
            Span<T> ys = ya.AsSpan((int)s, (int)(e - s));
            if (beta == T.Zero) TensorPrimitives.Multiply(xs, alpha, ys);
            else if (beta == T.One) TensorPrimitives.MultiplyAdd(xs, alpha, ys, ys);
            else
            {
                TensorPrimitives.Multiply(ys, beta, ys);
                TensorPrimitives.MultiplyAdd(xs, alpha, ys, ys);
            }
        });
    }

    // ---- sum over broadcast axes --------------------------------------------------------------

    private static void SumToShape<T>(Shape from, Shape to, DeviceBuffer x, DeviceBuffer y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xs = CpuBuffer.Array<T>(x);
        var ys = CpuBuffer.Span<T>(y);
        ys.Clear();
        // Walk x once; each element lands in the y element it was broadcast from. y is tiny in the
        // common case (a bias), so a serial pass keeps the sum order fixed and reproducible.
        var plan = BroadcastPlan.Create(new BroadcastShape(to, to, from));
        int inner = plan.Inner;
        Span<long> idx = stackalloc long[plan.OuterDims.Length];
        for (long r = 0; r < plan.Rows; r++)
        {
            plan.Offsets(r, idx, out long yo, out _);
            var row = xs.AsSpan((int)(r * inner), inner);
            if (plan.AInnerStride == 1)
            {
                var dst = ys.Slice((int)yo, inner);
                TensorPrimitives.Add(dst, row, dst);
            }
            else ys[(int)yo] += TensorPrimitives.Sum<T>(row);
        }
    }
}

/// <summary>Iteration plan for a broadcast: coalesced outer axes with per-operand strides and a
/// contiguous inner row whose stride in each operand is 1 or 0.</summary>
internal sealed class BroadcastPlan
{
    public required int[] OuterDims { get; init; }
    public required long[] AStrides { get; init; }
    public required long[] BStrides { get; init; }
    public required int Inner { get; init; }
    public required int AInnerStride { get; init; }
    public required int BInnerStride { get; init; }
    public long Rows { get; init; }

    public static BroadcastPlan Create(BroadcastShape s)
    {
        int rank = s.Out.Rank;
        var dims = new List<int>();
        var sa = new List<long>();
        var sb = new List<long>();
        // Strides of a and b aligned to the output's axes (0 where broadcast).
        long ra = 1, rb = 1;
        var aStr = new long[rank];
        var bStr = new long[rank];
        for (int i = rank - 1; i >= 0; i--)
        {
            int ia = i - (rank - s.A.Rank), ib = i - (rank - s.B.Rank);
            int da = ia >= 0 ? s.A[ia] : 1, db = ib >= 0 ? s.B[ib] : 1;
            aStr[i] = da == 1 ? 0 : ra;
            bStr[i] = db == 1 ? 0 : rb;
            ra *= da;
            rb *= db;
        }
        // Coalesce adjacent axes that stay contiguous in both operands; drop size-1 axes.
        for (int i = 0; i < rank; i++)
        {
            int d = s.Out[i];
            if (d == 1) continue;
            if (dims.Count > 0)
            {
                int j = dims.Count - 1;
                if (sa[j] == aStr[i] * d && sb[j] == bStr[i] * d)
                {
                    dims[j] *= d;
                    sa[j] = aStr[i];
                    sb[j] = bStr[i];
                    continue;
                }
            }
            dims.Add(d);
            sa.Add(aStr[i]);
            sb.Add(bStr[i]);
        }
        if (dims.Count == 0)
        {
            dims.Add(1);
            sa.Add(0);
            sb.Add(0);
        }
        int last = dims.Count - 1;
        int inner = dims[last];
        int ai = (int)sa[last], bi = (int)sb[last];
        // An inner stride other than 0/1 cannot happen after coalescing (the innermost kept axis
        // of a contiguous operand has stride 1); guard anyway.
        if (ai > 1 || bi > 1) throw new InvalidOperationException("broadcast plan: non-unit inner stride");
        var outer = dims.Take(last).ToArray();
        long rows = 1;
        foreach (var d in outer) rows *= d;
        return new BroadcastPlan
        {
            OuterDims = outer,
            AStrides = sa.Take(last).ToArray(),
            BStrides = sb.Take(last).ToArray(),
            Inner = inner,
            AInnerStride = ai,
            BInnerStride = bi,
            Rows = s.Out.Numel == 0 ? 0 : rows,
        };
    }

    public void Offsets(long row, Span<long> scratch, out long aOffset, out long bOffset)
    {
        aOffset = 0;
        bOffset = 0;
        for (int i = OuterDims.Length - 1; i >= 0; i--)
        {
            long q = row / OuterDims[i];
            long r = row - q * OuterDims[i];
            aOffset += r * AStrides[i];
            bOffset += r * BStrides[i];
            row = q;
        }
    }
}
