using Kernels.Nets.Modules;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.MlDecoder;

/// <summary>The ML-Decoder's one decoder layer (post-norm, no self-attention), as the reference's
/// TransformerDecoderLayerOptimal: t = LN1(q + Dropout(q)); t = LN2(t + Dropout(CrossAttn(t, memory)));
/// t = LN3(t + Dropout(FFN(t))). Children are named as the reference's state dict (norm1,
/// multihead_attn, linear1, linear2, norm2, norm3). The attention runs through
/// <see cref="F.AttentionDecode"/>; <see cref="MultiheadAttention"/> only holds the packed
/// parameters (in_proj_weight [3D, D] in q, k, v order, in_proj_bias, out_proj).</summary>
public sealed class MlDecoderLayer : Module
{
    public MlDecoderLayer(int embedDim, int heads = 8, int feedForward = 2048, double dropout = 0.1, double eps = 1e-5,
        DType dtype = DType.F32, Device? device = null, Rng? rng = null)
    {
        if (embedDim <= 0 || heads <= 0 || embedDim % heads != 0)
            throw new ArgumentException($"MlDecoderLayer: embedDim {embedDim} must be a positive multiple of heads {heads}");
        if (feedForward <= 0) throw new ArgumentException($"MlDecoderLayer: feedForward {feedForward} must be positive");
        if (dropout is < 0 or >= 1) throw new ArgumentException($"MlDecoderLayer: dropout {dropout} must be in [0, 1)");
        EmbedDim = embedDim;
        Heads = heads;
        DropoutP = dropout;
        _rng = rng;
        // Registration order = the reference's attribute order, so the state dicts list alike.
        Norm1 = RegisterModule("norm1", new LayerNorm(embedDim, eps, dtype: dtype, device: device));
        Attention = RegisterModule("multihead_attn", new MultiheadAttention(embedDim, heads, dropout, dtype: dtype, device: device));
        Linear1 = RegisterModule("linear1", new Linear(embedDim, feedForward, dtype: dtype, device: device));
        Linear2 = RegisterModule("linear2", new Linear(feedForward, embedDim, dtype: dtype, device: device));
        Norm2 = RegisterModule("norm2", new LayerNorm(embedDim, eps, dtype: dtype, device: device));
        Norm3 = RegisterModule("norm3", new LayerNorm(embedDim, eps, dtype: dtype, device: device));
    }

    private readonly Rng? _rng;

    public int EmbedDim { get; }
    public int Heads { get; }
    public double DropoutP { get; }
    public LayerNorm Norm1 { get; }
    public MultiheadAttention Attention { get; }
    public Linear Linear1 { get; }
    public Linear Linear2 { get; }
    public LayerNorm Norm2 { get; }
    public LayerNorm Norm3 { get; }

    /// <summary>tgt [B, K, D] (queries, one copy per image), memory [B, T, D] (projected tokens) → [B, K, D].</summary>
    public Tensor Forward(Tensor tgt, Tensor memory)
    {
        const string op = "MlDecoderLayer";
        int d = EmbedDim;
        Check.That(tgt.Rank == 3 && tgt.Shape[2] == d, op, $"tgt has shape {tgt.Shape}, expected [B, K, {d}]");
        Check.That(memory.Rank == 3 && memory.Shape[2] == d && memory.Shape[0] == tgt.Shape[0], op,
            $"memory has shape {memory.Shape}, expected [{tgt.Shape[0]}, T, {d}] for tgt {tgt.Shape}");
        bool train = IsTraining && DropoutP > 0;
        // The reference keeps self-attention's residual with the queries themselves: q + Dropout(q).
        var t = Norm1.Forward(F.Add(tgt, F.Dropout(tgt, DropoutP, train, _rng)));
        var q = F.Linear(t, Block(Attention.InProjWeight, 0), Attention.InProjBias is { } b0 ? Block(b0, 0) : null);
        var k = F.Linear(memory, Block(Attention.InProjWeight, 1), Attention.InProjBias is { } b1 ? Block(b1, 1) : null);
        var v = F.Linear(memory, Block(Attention.InProjWeight, 2), Attention.InProjBias is { } b2 ? Block(b2, 2) : null);
        var attn = Attention.OutProj.Forward(F.AttentionDecode(q, k, v, Heads, DropoutP, train, _rng));
        t = Norm2.Forward(F.Add(t, F.Dropout(attn, DropoutP, train, _rng)));
        var ffn = Linear2.Forward(F.Dropout(F.Relu(Linear1.Forward(t)), DropoutP, train, _rng));
        return Norm3.Forward(F.Add(t, F.Dropout(ffn, DropoutP, train, _rng)));
    }

    /// <summary>The i-th D-row block (0 q, 1 k, 2 v) of a packed projection weight or bias.</summary>
    private Tensor Block(Tensor packed, int which) => F.Slice(packed, 0, which * EmbedDim, EmbedDim);
}
