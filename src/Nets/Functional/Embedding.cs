using Kernels.Ops.Embedding;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>Rows of <paramref name="weight"/> [V, D] picked by int32 <paramref name="indices"/>
    /// of any shape: the result is [..indices.Shape, D]. Only the weight gets a gradient (a
    /// deterministic scatter-add; repeated indices accumulate).</summary>
    public static Tensor Embedding(Tensor indices, Tensor weight)
    {
        const string op = "Embedding";
        indices.ThrowIfDisposed();
        weight.ThrowIfDisposed();
        Check.SameDevice(op, "indices", weight.Device, indices.Device);
        Check.That(indices.DType == DType.I32, op, $"indices has dtype {indices.DType.Name()}, expected int32");
        Check.That(weight.DType.IsFloat(), op, $"weight has dtype {weight.DType.Name()}, expected a float tensor");
        Check.Rank(op, "weight", weight.Shape, 2);
        int vocab = weight.Shape[0], dim = weight.Shape[1];
        CheckIndices(op, indices, vocab, $"weight {weight.Shape} ({vocab} rows)");
        var s = new EmbeddingShape(indices.Numel, vocab, dim);
        var outDims = indices.Shape.ToArray().Append(dim).ToArray();
        var y = NewLike(weight, new Shape(outDims));
        K<IEmbedding>(weight).Forward(s, indices.Buffer, weight.Buffer, y.Buffer);
        if (Autograd.Needs(weight))
            Autograd.Record(op, y, [weight], g =>
            {
                var dw = NewLike(g, weight.Shape);
                K<IEmbedding>(g).BackwardWeight(s, indices.Buffer, g.Buffer, dw.Buffer);
                return [dw];
            });
        return y;
    }
}
