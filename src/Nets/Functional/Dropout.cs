using Kernels.Ops.Dropout;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Inverted dropout: in training each element is zeroed with probability
    /// <paramref name="p"/> and the survivors scaled by 1/(1 − p). One seed is drawn from
    /// <paramref name="rng"/> (null: <see cref="Rng.Global"/>) per call; the mask is a hash of
    /// (seed, element index), so it does not depend on the thread count, and the backward
    /// regenerates it. In eval mode, or with p = 0, the result is a view of x (shared storage,
    /// gradient passed through) and no seed is drawn.</summary>
    public static Tensor Dropout(Tensor x, double p, bool training, Rng? rng = null)
    {
        const string op = "Dropout";
        x.ThrowIfDisposed();
        Check.That(p is >= 0 and < 1, op, $"p = {p} must be in [0, 1) (x {x.Shape})");
        Check.That(x.DType.IsFloat(), op, $"x has dtype {x.DType.Name()}, expected a float tensor");
        if (!training || p == 0) return x.Reshape(x.Shape.ToArray());
        ulong seed = (rng ?? Rng.Global).NextUInt64();
        var y = NewLike(x, x.Shape);
        K<IDropout>(x).Apply(x.Numel, p, seed, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
            Autograd.Record(op, y, [x], g =>
            {
                var dx = NewLike(g, x.Shape);
                K<IDropout>(g).Apply(x.Numel, p, seed, g.Buffer, dx.Buffer);
                return [dx];
            });
        return y;
    }
}
