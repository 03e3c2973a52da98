using Kernels.Ops.Reduce;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Sum over <paramref name="axes"/> (negative axes count from the end; null: every
    /// axis, giving a scalar unless <paramref name="keepDim"/>).</summary>
    public static Tensor Sum(Tensor x, int[]? axes = null, bool keepDim = false) => SumOrMean("Sum", x, axes, keepDim, false);

    /// <summary>Mean over <paramref name="axes"/> (null: every axis). The mean over zero elements is NaN.</summary>
    public static Tensor Mean(Tensor x, int[]? axes = null, bool keepDim = false) => SumOrMean("Mean", x, axes, keepDim, true);

    /// <summary>Maximum values along one axis. The gradient goes to the first maximal element of
    /// each lane only (ties: the lowest index), which is one valid subgradient; PyTorch's
    /// max(dim) does the same through its returned indices.</summary>
    public static Tensor Max(Tensor x, int axis, bool keepDim = false)
    {
        const string op = "Max";
        var (s, outShape) = OneAxisReduction(op, x, axis, keepDim);
        var y = NewLike(x, outShape);
        K<IReduce>(x).Max(s, x.Buffer, y.Buffer, null);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<IReduce>(g).MaxBackward(s, x.Buffer, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }

    /// <summary>Index (int32) of the first maximal element along one axis; NaN counts as the
    /// maximum. Not differentiable.</summary>
    public static Tensor ArgMax(Tensor x, int axis, bool keepDim = false)
    {
        var (s, outShape) = OneAxisReduction("ArgMax", x, axis, keepDim);
        var y = Tensor.Empty(outShape, DType.I32, x.Device);
        K<IReduce>(x).Max(s, x.Buffer, null, y.Buffer);
        return y;
    }

    private static (ReduceShape Shape, Shape Out) OneAxisReduction(string op, Tensor x, int axis, bool keepDim)
    {
        x.ThrowIfDisposed();
        Check.That(x.DType.IsFloat(), op, $"x has dtype {x.DType.Name()}, expected a float tensor");
        int a = x.Shape.Axis(axis, op);
        Check.That(x.Shape[a] > 0, op, $"axis {axis} of x {x.Shape} has size 0; a maximum needs at least one element");
        var outShape = keepDim ? x.Shape.With(a, 1) : RemoveAxes(x.Shape, [a]);
        return (ReduceShape.Of(x.Shape, a, a + 1), outShape);
    }

    private static Tensor SumOrMean(string op, Tensor x, int[]? axes, bool keepDim, bool mean)
    {
        x.ThrowIfDisposed();
        Check.That(x.DType.IsFloat(), op, $"x has dtype {x.DType.Name()}, expected a float tensor");
        var reduced = ReducedAxes(op, x.Shape, axes);
        var keptShape = x.Shape;
        long count = 1;
        foreach (int a in reduced)
        {
            keptShape = keptShape.With(a, 1);
            count *= x.Shape[a];
        }
        var outShape = keepDim ? keptShape : RemoveAxes(x.Shape, reduced);
        double scale = mean ? 1.0 / count : 1.0;
        var y = NewLike(x, outShape);
        SumPasses(x, reduced, scale, y);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<IReduce>(g).Expand(keptShape, x.Shape, scale, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }

    /// <summary>Reduces the marked axes of x into y. Axes of size 1 are dropped and adjacent axes
    /// of the same kind merged; each remaining run of reduced axes is one [outer, reduced, inner]
    /// pass (innermost first), the scale applied by the last.</summary>
    private static void SumPasses(Tensor x, int[] reduced, double scale, Tensor y)
    {
        var dims = new List<(long Size, bool Reduced)>();
        for (int i = 0; i < x.Rank; i++)
        {
            long d = x.Shape[i];
            bool r = Array.IndexOf(reduced, i) >= 0;
            if (d == 1) continue;
            if (d == 0) r = true; // nothing to iterate: one pass of length 0 produces the result
            if (dims.Count > 0 && dims[^1].Reduced == r) dims[^1] = (dims[^1].Size * d, r);
            else dims.Add((d, r));
        }
        var k = K<IReduce>(x);
        if (x.Numel == 0)
        {
            // Either the output is empty too, or an empty axis is summed: 0 (NaN for a mean).
            k.Sum(new ReduceShape(y.Numel, 0, 1), scale, x.Buffer, y.Buffer);
            return;
        }
        int passes = dims.Count(d => d.Reduced);
        if (passes == 0)
        {
            k.Sum(new ReduceShape(x.Numel, 1, 1), scale, x.Buffer, y.Buffer);
            return;
        }
        var src = x;
        Tensor? temp = null;
        for (int j = dims.Count - 1; j >= 0; j--)
        {
            if (!dims[j].Reduced) continue;
            long outer = 1, inner = 1;
            for (int q = 0; q < j; q++) outer *= dims[q].Size;
            for (int q = j + 1; q < dims.Count; q++) inner *= dims[q].Size;
            var s = new ReduceShape(outer, (int)dims[j].Size, inner);
            dims.RemoveAt(j);
            passes--;
            Tensor dst;
            using (TensorScope.Suspend())
                dst = passes == 0 ? y : Tensor.Empty([(int)(outer * inner)], x.DType, x.Device);
            k.Sum(s, passes == 0 ? scale : 1.0, src.Buffer, dst.Buffer);
            temp?.Dispose();
            temp = passes == 0 ? null : dst;
            src = dst;
        }
    }

    /// <summary>Normalised, sorted, distinct axes; null means all.</summary>
    private static int[] ReducedAxes(string op, Shape shape, int[]? axes)
    {
        if (axes is null) return Enumerable.Range(0, shape.Rank).ToArray();
        Check.That(axes.Length > 0, op, $"axes is empty for x {shape}; pass null to reduce every axis");
        var norm = axes.Select(a => shape.Axis(a, op)).ToArray();
        Check.That(norm.Distinct().Count() == norm.Length, op,
            $"axes {Shape.Format(axes)} name an axis twice for x {shape}");
        Array.Sort(norm);
        return norm;
    }

    private static Shape RemoveAxes(Shape shape, int[] axes)
    {
        var d = new List<int>();
        for (int i = 0; i < shape.Rank; i++)
            if (Array.IndexOf(axes, i) < 0) d.Add(shape[i]);
        return new Shape(d.ToArray());
    }
}
