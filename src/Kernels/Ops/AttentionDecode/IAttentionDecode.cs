using Kernels.Registry;

namespace Kernels.Ops.AttentionDecode;

/// <summary>Multi-head cross-attention of K queries against T tokens per image (the ML-Decoder's
/// decoder layer). Layouts, row-major: q [Batch, Queries, Heads·HeadDim], k and v [Batch, Tokens,
/// Heads·HeadDim], o like q; head h uses columns [h·HeadDim, (h+1)·HeadDim). Attention weights
/// probs [Batch, Heads, Queries, Tokens] are the softmax BEFORE dropout (saved for the backward).
/// Dropout on the weights follows <see cref="Dropout.DropoutMask"/>: weight element i (its linear
/// index in probs, as uint) is kept when DropoutMask.Keep(keys of Seed, i) and scaled by 1/(1 − p).</summary>
public readonly record struct AttentionDecodeShape(int Batch, int Queries, int Tokens, int Heads, int HeadDim,
    double Scale, double DropoutP = 0, ulong Seed = 0)
{
    public int Dim => Heads * HeadDim;

    /// <summary>The usual 1/√HeadDim scale.</summary>
    public static AttentionDecodeShape Create(int batch, int queries, int tokens, int heads, int headDim,
        double dropoutP = 0, ulong seed = 0) =>
        new(batch, queries, tokens, heads, headDim, 1.0 / Math.Sqrt(headDim), dropoutP, seed);

    public long ProbsLength => (long)Batch * Heads * Queries * Tokens;
}

/// <summary>Fused attention decoding: per (image, head) QKᵀ·scale, softmax over tokens, dropout,
/// product with V. Implementations: Cpu (reference), Ilgpu, Native (native/attention_decode.cu).</summary>
public interface IAttentionDecode : IKernelFamily
{
    /// <summary>o = dropout(softmax(q·kᵀ·scale))·v per head; writes probs (pre-dropout) when it is
    /// not null (training), so the backward needs no recomputation of the softmax.</summary>
    void Forward(in AttentionDecodeShape shape, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer o,
        DeviceBuffer? probs);

    /// <summary>dq, dk, dv from dO (each overwritten), using the probs of the forward with the same
    /// shape (same dropout seed).</summary>
    void Backward(in AttentionDecodeShape shape, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer probs,
        DeviceBuffer dO, DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv);
}
