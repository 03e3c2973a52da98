using Kernels.Registry;

namespace Kernels.Ops.Embedding;

/// <summary>N lookups into a [Vocab, Dim] table.</summary>
public readonly record struct EmbeddingShape(long N, int Vocab, int Dim);

/// <summary>Embedding lookup and its weight gradient. Indices are int32 and already validated.</summary>
public interface IEmbedding : IKernelFamily
{
    /// <summary>y[n, :] = weight[indices[n], :].</summary>
    void Forward(in EmbeddingShape shape, DeviceBuffer indices, DeviceBuffer weight, DeviceBuffer y);

    /// <summary>dWeight (overwritten) = Σ over n with indices[n] = v of dy[n, :], for every row v.
    /// Deterministic: each row's contributions are added in increasing n, whatever the threads.</summary>
    void BackwardWeight(in EmbeddingShape shape, DeviceBuffer indices, DeviceBuffer dy, DeviceBuffer dWeight);
}
