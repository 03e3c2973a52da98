using Kernels.Ops.Elementwise;

namespace Kernels.Nets;

public static partial class Functional
{
    public static Tensor Add(Tensor a, Tensor b) => Binary(BinaryOp.Add, a, b);
    public static Tensor Sub(Tensor a, Tensor b) => Binary(BinaryOp.Sub, a, b);
    public static Tensor Mul(Tensor a, Tensor b) => Binary(BinaryOp.Mul, a, b);
    public static Tensor Div(Tensor a, Tensor b) => Binary(BinaryOp.Div, a, b);
    public static Tensor Maximum(Tensor a, Tensor b) => Binary(BinaryOp.Max, a, b);
    public static Tensor Minimum(Tensor a, Tensor b) => Binary(BinaryOp.Min, a, b);
    public static Tensor Pow(Tensor a, Tensor b) => Binary(BinaryOp.Pow, a, b);

    public static Tensor Binary(BinaryOp op, Tensor a, Tensor b)
    {
        string name = op.ToString();
        SameDevice(name, a, ("b", b));
        Check.That(a.DType.IsFloat(), name, $"a has dtype {a.DType.Name()} (shape {a.Shape}), expected a float tensor");
        var shape = BroadcastShape.Of(name, a.Shape, b.Shape);
        var y = NewLike(a, shape.Out);
        K<IElementwise>(a).Binary(op, shape, a.Buffer, b.Buffer, y.Buffer);
        if (Autograd.Needs(a, b))
            Autograd.Record(name, y, [a, b], g => BinaryBackward(op, a, b, y, g));
        return y;
    }

    private static Tensor?[] BinaryBackward(BinaryOp op, Tensor a, Tensor b, Tensor y, Tensor g)
    {
        Tensor? da = null, db = null;
        bool wa = a.RequiresGrad, wb = b.RequiresGrad;
        switch (op)
        {
            case BinaryOp.Add:
                if (wa) da = g;
                if (wb) db = g;
                break;
            case BinaryOp.Sub:
                if (wa) da = g;
                if (wb) db = Neg(g);
                break;
            case BinaryOp.Mul:
                if (wa) da = Mul(g, b);
                if (wb) db = Mul(g, a);
                break;
            case BinaryOp.Div:
                if (wa) da = Div(g, b);
                if (wb) db = Neg(Div(Mul(g, y), b)); // d(a/b)/db = −a/b² = −y/b
                break;
            case BinaryOp.Max:
            case BinaryOp.Min:
                {
                    // The gradient goes to the operand that was selected; ties send it to a.
                    var pickA = SelectMask(a, y);
                    if (wa) da = Mul(g, pickA);
                    if (wb) db = Mul(g, ScalarOp(Kernels.Ops.Elementwise.ScalarOp.RSub, 1.0, pickA));
                    break;
                }
            case BinaryOp.Pow:
                // As PyTorch: d/da is 0 where b = 0 (not 0·a^−1, NaN at a = 0), and d/db is 0 where
                // a = 0 (not y·log 0). Raising to b − 1 + [b = 0] and taking log(a + [a = 0]) does it
                // without a select op.
                if (wa) da = Mul(g, Mul(b, Pow(a, Add(AddScalar(b, -1.0), IsZero(b)))));
                if (wb) db = Mul(g, Mul(y, Log(Add(a, IsZero(a)))));
                break;
        }
        return [da is null ? null : Unbroadcast(da, a.Shape), db is null ? null : Unbroadcast(db, b.Shape)];
    }

    /// <summary>1 where x is 0, else 0 (NaN counts as 0 too: sign(NaN) is 0).</summary>
    private static Tensor IsZero(Tensor x) =>
        ScalarOp(Kernels.Ops.Elementwise.ScalarOp.RSub, 1.0, Unary(UnaryOp.Sign, Abs(x)));

    /// <summary>1 where a equals the broadcast result y (the operand chosen by max / min), else 0.</summary>
    private static Tensor SelectMask(Tensor a, Tensor y)
    {
        // eq(a, y) = 1 − sign(|a − y|): exact for the chosen elements.
        var diff = Abs(Sub(a, y));
        return ScalarOp(Kernels.Ops.Elementwise.ScalarOp.RSub, 1.0, Unary(UnaryOp.Sign, diff));
    }

    public static Tensor Neg(Tensor x) => Unary(UnaryOp.Neg, x);
    public static Tensor Exp(Tensor x) => Unary(UnaryOp.Exp, x);
    public static Tensor Log(Tensor x) => Unary(UnaryOp.Log, x);
    public static Tensor Sqrt(Tensor x) => Unary(UnaryOp.Sqrt, x);
    public static Tensor Rsqrt(Tensor x) => Unary(UnaryOp.Rsqrt, x);
    public static Tensor Abs(Tensor x) => Unary(UnaryOp.Abs, x);
    public static Tensor Square(Tensor x) => Unary(UnaryOp.Square, x);
    public static Tensor Reciprocal(Tensor x) => Unary(UnaryOp.Reciprocal, x);
    public static Tensor Sin(Tensor x) => Unary(UnaryOp.Sin, x);
    public static Tensor Cos(Tensor x) => Unary(UnaryOp.Cos, x);

    public static Tensor Unary(UnaryOp op, Tensor x)
    {
        x.ThrowIfDisposed();
        Check.That(x.DType.IsFloat(), op.ToString(), $"x has dtype {x.DType.Name()} (shape {x.Shape}), expected a float tensor");
        var y = NewLike(x, x.Shape);
        K<IElementwise>(x).Unary(op, x.Numel, x.Buffer, y.Buffer);
        if (Autograd.Needs(x) && op != UnaryOp.Sign)
            Autograd.Record(op.ToString(), y, [x], g => [UnaryBackward(op, x, y, g)]);
        return y;
    }

    private static Tensor UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor g) => op switch
    {
        UnaryOp.Neg => Neg(g),
        UnaryOp.Exp => Mul(g, y),
        UnaryOp.Log => Div(g, x),
        UnaryOp.Sqrt => Div(MulScalar(g, 0.5), y),
        UnaryOp.Rsqrt => Mul(g, MulScalar(Mul(y, Mul(y, y)), -0.5)),
        UnaryOp.Abs => Mul(g, Unary(UnaryOp.Sign, x)),
        UnaryOp.Square => Mul(g, MulScalar(x, 2.0)),
        UnaryOp.Reciprocal => Neg(Mul(g, Mul(y, y))),
        UnaryOp.Sin => Mul(g, Cos(x)),
        UnaryOp.Cos => Neg(Mul(g, Sin(x))),
        _ => throw new InvalidOperationException($"{op} has no gradient"),
    };

    public static Tensor AddScalar(Tensor x, double s) => ScalarOp(Kernels.Ops.Elementwise.ScalarOp.Add, s, x);
    public static Tensor MulScalar(Tensor x, double s) => ScalarOp(Kernels.Ops.Elementwise.ScalarOp.Mul, s, x);
    public static Tensor PowScalar(Tensor x, double s) => ScalarOp(Kernels.Ops.Elementwise.ScalarOp.Pow, s, x);
    /// <summary>s − x.</summary>
    public static Tensor RSubScalar(double s, Tensor x) => ScalarOp(Kernels.Ops.Elementwise.ScalarOp.RSub, s, x);
    /// <summary>s / x.</summary>
    public static Tensor RDivScalar(double s, Tensor x) => ScalarOp(Kernels.Ops.Elementwise.ScalarOp.RDiv, s, x);
    /// <summary>max(x, s), e.g. a clamp from below.</summary>
    public static Tensor ClampMin(Tensor x, double s) => ScalarOp(Kernels.Ops.Elementwise.ScalarOp.Max, s, x);
    public static Tensor ClampMax(Tensor x, double s) => ScalarOp(Kernels.Ops.Elementwise.ScalarOp.Min, s, x);
    public static Tensor Clamp(Tensor x, double min, double max) => ClampMax(ClampMin(x, min), max);

    public static Tensor ScalarOp(ScalarOp op, double s, Tensor x)
    {
        x.ThrowIfDisposed();
        Check.That(x.DType.IsFloat(), op + "Scalar", $"x has dtype {x.DType.Name()} (shape {x.Shape}), expected a float tensor");
        var y = NewLike(x, x.Shape);
        K<IElementwise>(x).Scalar(op, s, x.Numel, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op.ToString() + "Scalar", y, [x], g => [ScalarBackward(op, s, x, y, g)]);
        return y;
    }

    private static Tensor ScalarBackward(ScalarOp op, double s, Tensor x, Tensor y, Tensor g) => op switch
    {
        Kernels.Ops.Elementwise.ScalarOp.Add => g,
        Kernels.Ops.Elementwise.ScalarOp.Mul => MulScalar(g, s),
        Kernels.Ops.Elementwise.ScalarOp.RSub => Neg(g),
        Kernels.Ops.Elementwise.ScalarOp.RDiv => Neg(Div(Mul(g, y), x)),
        Kernels.Ops.Elementwise.ScalarOp.Pow => Mul(g, MulScalar(PowScalar(x, s - 1.0), s)),
        Kernels.Ops.Elementwise.ScalarOp.Max or Kernels.Ops.Elementwise.ScalarOp.Min => Mul(g, SelectMask(x, y)),
        _ => throw new InvalidOperationException($"{op} has no gradient"),
    };
}
