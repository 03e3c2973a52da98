using Kernels.Ops.Layout;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Joins tensors along <paramref name="axis"/>; every other axis must match.</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> xs, int axis)
    {
        const string op = "Concat";
        Check.That(xs is { Count: > 0 }, op, "xs is empty; nothing to concatenate");
        var first = xs[0];
        first.ThrowIfDisposed();
        Check.That(first.Rank > 0, op, "xs[0] is a scalar; concatenation needs an axis");
        int a = first.Shape.Axis(axis, op);
        long total = 0;
        for (int k = 0; k < xs.Count; k++)
        {
            var t = xs[k];
            SameDevice(op, first, ($"xs[{k}]", t));
            Check.That(t.Rank == first.Rank, op, $"xs[{k}] has shape {t.Shape}, xs[0] has {first.Shape}: ranks differ");
            for (int d = 0; d < first.Rank; d++)
                Check.That(d == a || t.Shape[d] == first.Shape[d], op,
                    $"xs[{k}] has shape {t.Shape}, xs[0] has {first.Shape}: they differ on axis {d}, not only on the concat axis {a}");
            total += t.Shape[a];
        }
        Check.That(total <= int.MaxValue, op, $"the concat axis would have {total} elements");
        var outShape = first.Shape.With(a, (int)total);
        var y = NewLike(first, outShape);
        long outer = first.Shape.Prod(0, a), inner = first.Shape.Prod(a + 1, first.Rank);
        var k0 = K<ILayout>(first);
        var offsets = new int[xs.Count];
        int at = 0;
        for (int k = 0; k < xs.Count; k++)
        {
            offsets[k] = at;
            int len = xs[k].Shape[a];
            k0.AxisCopy(new AxisCopyShape(outer, len, (int)total, inner, 0, at, len), xs[k].Buffer, y.Buffer);
            at += len;
        }
        var inputs = xs.ToArray();
        if (Autograd.Needs(inputs))
            Autograd.Record(op, y, inputs, g =>
            {
                var grads = new Tensor?[inputs.Length];
                for (int k = 0; k < inputs.Length; k++)
                {
                    if (!inputs[k].RequiresGrad) continue;
                    int len = inputs[k].Shape[a];
                    var dx = NewLike(g, inputs[k].Shape);
                    K<ILayout>(g).AxisCopy(new AxisCopyShape(outer, (int)total, len, inner, offsets[k], 0, len), g.Buffer, dx.Buffer);
                    grads[k] = dx;
                }
                return grads;
            });
        return y;
    }

    /// <summary>Elements [start, start + length) of <paramref name="axis"/> (a copy). The gradient
    /// is zero outside the slice.</summary>
    public static Tensor Slice(Tensor x, int axis, int start, int length)
    {
        const string op = "Slice";
        x.ThrowIfDisposed();
        Check.That(x.Rank > 0, op, "x is a scalar; slicing needs an axis");
        int a = x.Shape.Axis(axis, op);
        int size = x.Shape[a];
        Check.That(start >= 0 && length >= 0 && (long)start + length <= size, op,
            $"start {start}, length {length} do not fit axis {axis} (size {size}) of x {x.Shape}");
        var y = NewLike(x, x.Shape.With(a, length));
        long outer = x.Shape.Prod(0, a), inner = x.Shape.Prod(a + 1, x.Rank);
        K<ILayout>(x).AxisCopy(new AxisCopyShape(outer, size, length, inner, start, 0, length), x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = Tensor.Zeros(x.Shape, g.DType, g.Device);
                K<ILayout>(g).AxisCopy(new AxisCopyShape(outer, length, size, inner, 0, start, length), g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }

    /// <summary>Constant padding. <paramref name="padding"/> lists (before, after) pairs starting
    /// with the LAST axis, as torch.nn.functional.pad: [left, right, top, bottom, …]. Axes not
    /// named are not padded. Negative padding (cropping) is refused: use Slice.</summary>
    public static Tensor Pad(Tensor x, int[] padding, double value = 0)
    {
        const string op = "Pad";
        x.ThrowIfDisposed();
        Check.That(padding.Length % 2 == 0 && padding.Length / 2 <= x.Rank, op,
            $"padding {Shape.Format(padding)} must hold (before, after) pairs for at most {x.Rank} axes of x {x.Shape}");
        foreach (int p in padding)
            Check.That(p >= 0, op, $"negative padding in {Shape.Format(padding)} is not supported (x {x.Shape}); crop with Slice instead");
        var before = new int[x.Rank];
        var large = x.Shape.ToArray();
        for (int k = 0; k < padding.Length / 2; k++)
        {
            int d = x.Rank - 1 - k;
            before[d] = padding[2 * k];
            long size = (long)large[d] + padding[2 * k] + padding[2 * k + 1];
            Check.That(size <= int.MaxValue, op, $"axis {d} of x {x.Shape} would have {size} elements");
            large[d] = (int)size;
        }
        var s = new PadShape(x.Shape, new Shape(large), before);
        var y = NewLike(x, s.Large);
        K<ILayout>(x).Pad(s, value, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<ILayout>(g).Crop(s, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }

    /// <summary>Reorders axes: output axis i is input axis <paramref name="axes"/>[i] (negative
    /// axes count from the end). Always a copy.</summary>
    public static Tensor Permute(Tensor x, params int[] axes)
    {
        const string op = "Permute";
        x.ThrowIfDisposed();
        Check.That(axes.Length == x.Rank, op, $"axes {Shape.Format(axes)} has {axes.Length} entries for x {x.Shape} of rank {x.Rank}");
        var perm = new int[axes.Length];
        var seen = new bool[axes.Length];
        for (int i = 0; i < axes.Length; i++)
        {
            perm[i] = x.Shape.Axis(axes[i], op);
            Check.That(!seen[perm[i]], op, $"axes {Shape.Format(axes)} is not a permutation of the axes of x {x.Shape}");
            seen[perm[i]] = true;
        }
        var outDims = new int[perm.Length];
        var inverse = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++)
        {
            outDims[i] = x.Shape[perm[i]];
            inverse[perm[i]] = i;
        }
        var y = NewLike(x, new Shape(outDims));
        K<ILayout>(x).Permute(x.Shape, perm, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<ILayout>(g).Permute(g.Shape, inverse, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }

    /// <summary>Swaps two axes (a copy).</summary>
    public static Tensor Transpose(Tensor x, int axis0, int axis1)
    {
        x.ThrowIfDisposed();
        int a = x.Shape.Axis(axis0, "Transpose"), b = x.Shape.Axis(axis1, "Transpose");
        var perm = Enumerable.Range(0, x.Rank).ToArray();
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(x, perm);
    }

    /// <summary>torch.gather: y[…, i, …] = x[…, index[…, i, …], …] along <paramref name="axis"/>.
    /// index is int32 with x's rank; its size on every other axis may not exceed x's. The
    /// gradient scatter-adds into x's shape (repeated indices accumulate).</summary>
    public static Tensor Gather(Tensor x, int axis, Tensor index)
    {
        const string op = "Gather";
        x.ThrowIfDisposed();
        index.ThrowIfDisposed();
        Check.SameDevice(op, "index", x.Device, index.Device);
        Check.That(index.DType == DType.I32, op, $"index has dtype {index.DType.Name()}, expected int32");
        Check.That(x.Rank > 0, op, "x is a scalar; gather needs an axis");
        int a = x.Shape.Axis(axis, op);
        Check.That(index.Rank == x.Rank, op, $"index has shape {index.Shape}, x has {x.Shape}: ranks differ");
        for (int d = 0; d < x.Rank; d++)
            Check.That(d == a || index.Shape[d] <= x.Shape[d], op,
                $"index {index.Shape} is larger than x {x.Shape} on axis {d} (only the gather axis {a} may differ freely)");
        CheckIndices(op, index, x.Shape[a], $"axis {a} of x {x.Shape}");
        var s = new GatherShape(x.Shape, index.Shape, a);
        var y = NewLike(x, index.Shape);
        K<ILayout>(x).Gather(s, x.Buffer, index.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<ILayout>(g).GatherBackward(s, index.Buffer, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }

    /// <summary>Picks the entries of a 1-D int32 <paramref name="index"/> along
    /// <paramref name="axis"/>; the gradient index-adds back (repeated indices accumulate).</summary>
    public static Tensor IndexSelect(Tensor x, int axis, Tensor index)
    {
        const string op = "IndexSelect";
        x.ThrowIfDisposed();
        index.ThrowIfDisposed();
        Check.SameDevice(op, "index", x.Device, index.Device);
        Check.That(index.DType == DType.I32, op, $"index has dtype {index.DType.Name()}, expected int32");
        Check.That(index.Rank == 1, op, $"index has shape {index.Shape}, expected a 1-D tensor");
        Check.That(x.Rank > 0, op, "x is a scalar; index-select needs an axis");
        int a = x.Shape.Axis(axis, op);
        CheckIndices(op, index, x.Shape[a], $"axis {a} of x {x.Shape}");
        var s = new IndexSelectShape(x.Shape.Prod(0, a), x.Shape[a], index.Shape[0], x.Shape.Prod(a + 1, x.Rank));
        var y = NewLike(x, x.Shape.With(a, index.Shape[0]));
        K<ILayout>(x).IndexSelect(s, x.Buffer, index.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<ILayout>(g).IndexAdd(s, index.Buffer, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }

    /// <summary>Throws, naming the op, the position and the value, when an index is outside [0, bound).</summary>
    internal static void CheckIndices(string op, Tensor index, int bound, string what)
    {
        long bad = K<ILayout>(index).FindBadIndex(index.Numel, index.Buffer, bound);
        if (bad < 0) return;
        int value = index.ToArray<int>()[bad];
        throw new ArgumentException(
            $"{op}: index {value} at position {bad} of index {index.Shape} is out of range [0, {bound}) for {what}");
    }
}
