using Kernels.Ops.Upsample;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Nearest-neighbour resize of [N, C, L], [N, C, H, W] or [N, C, D, H, W] to
    /// <paramref name="outSize"/> (one entry per spatial axis), PyTorch's 'nearest' index rule.</summary>
    public static Tensor UpsampleNearest(Tensor x, int[] outSize) =>
        Upsample("UpsampleNearest", x, outSize, UpsampleMode.Nearest, false);

    /// <summary>Linear resize: linear on 3-D, bilinear on 4-D, trilinear on 5-D input, with PyTorch's
    /// source coordinates for <paramref name="alignCorners"/> true and false.</summary>
    public static Tensor UpsampleLinear(Tensor x, int[] outSize, bool alignCorners = false) =>
        Upsample("UpsampleLinear", x, outSize, UpsampleMode.Linear, alignCorners);

    private static Tensor Upsample(string op, Tensor x, int[] outSize, UpsampleMode mode, bool alignCorners)
    {
        x.ThrowIfDisposed();
        FloatInput(op, "x", x);
        Check.That(x.Rank is >= 3 and <= 5, op,
            $"x has shape {x.Shape} (rank {x.Rank}), expected [N, C, L], [N, C, H, W] or [N, C, D, H, W]");
        int dims = x.Rank - 2;
        Check.That(outSize.Length == dims, op,
            $"outSize {Shape.Format(outSize)} has {outSize.Length} entries, x of shape {x.Shape} has {dims} spatial axes");
        var inS = new[] { 1, 1, 1 };
        var outS = new[] { 1, 1, 1 };
        for (int i = 0; i < dims; i++)
        {
            Check.That(outSize[i] > 0, op, $"outSize {Shape.Format(outSize)} must be positive");
            Check.That(x.Shape[2 + i] > 0, op, $"x has shape {x.Shape}, an empty spatial axis cannot be resized");
            inS[3 - dims + i] = x.Shape[2 + i];
            outS[3 - dims + i] = outSize[i];
        }
        var s = new UpsampleShape(x.Shape[0], x.Shape[1], inS[0], inS[1], inS[2], outS[0], outS[1], outS[2], mode, alignCorners);
        var shape = x.Shape.ToArray();
        for (int i = 0; i < dims; i++) shape[2 + i] = outSize[i];
        var y = NewLike(x, shape);
        K<IUpsample>(x).Forward(s, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<IUpsample>(g).Backward(s, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }
}
