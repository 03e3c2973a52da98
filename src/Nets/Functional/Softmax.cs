using Kernels.Ops.Softmax;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>exp(x − max) / Σ exp(x − max) along <paramref name="axis"/>. A lane that is all −∞
    /// gives NaN (as PyTorch does); mask with a large negative number instead of −∞ to avoid it.</summary>
    public static Tensor Softmax(Tensor x, int axis = -1) => SoftmaxOp("Softmax", x, axis, false);

    /// <summary>x − max − log Σ exp(x − max) along <paramref name="axis"/>; NaN for an all −∞ lane.</summary>
    public static Tensor LogSoftmax(Tensor x, int axis = -1) => SoftmaxOp("LogSoftmax", x, axis, true);

    private static Tensor SoftmaxOp(string op, Tensor x, int axis, bool log)
    {
        x.ThrowIfDisposed();
        Check.That(x.DType.IsFloat(), op, $"x has dtype {x.DType.Name()}, expected a float tensor");
        Check.That(x.Rank > 0, op, "x is a scalar; softmax needs an axis");
        var s = SoftmaxShape.Of(x.Shape, x.Shape.Axis(axis, op));
        var y = NewLike(x, x.Shape);
        K<ISoftmax>(x).Forward(s, log, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<ISoftmax>(g).Backward(s, log, y.Buffer, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }
}
