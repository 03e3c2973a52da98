using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Modules;

/// <summary>nn.MultiheadAttention with batch_first inputs: query [B, L, E], key and value [B, S, E]
/// (key/value may differ from the query and from each other). Parameters as PyTorch:
/// in_proj_weight [3E, E] (xavier-uniform), in_proj_bias [3E] (zeros), out_proj.weight [E, E],
/// out_proj.bias [E] (zeros). Dropout applies to the attention weights in training mode.</summary>
public sealed class MultiheadAttention : Module
{
    public MultiheadAttention(int embedDim, int numHeads, double dropout = 0, bool bias = true, DType dtype = DType.F32,
        Device? device = null)
    {
        if (embedDim <= 0 || numHeads <= 0 || embedDim % numHeads != 0)
            throw new ArgumentException($"MultiheadAttention: embedDim {embedDim} must be a positive multiple of numHeads {numHeads}");
        if (dropout is < 0 or >= 1) throw new ArgumentException($"MultiheadAttention: dropout {dropout} must be in [0, 1)");
        EmbedDim = embedDim;
        NumHeads = numHeads;
        HeadDim = embedDim / numHeads;
        DropoutP = dropout;
        InProjWeight = RegisterParameter("in_proj_weight", Init.Create([3 * embedDim, embedDim], dtype, device, t => Init.XavierUniform(t)));
        if (bias) InProjBias = RegisterParameter("in_proj_bias", Init.Create([3 * embedDim], dtype, device, Init.Zeros));
        OutProj = RegisterModule("out_proj", new Linear(embedDim, embedDim, bias, dtype, device));
        if (OutProj.Bias is { } ob) Init.Zeros(ob);
    }

    public int EmbedDim { get; }
    public int NumHeads { get; }
    public int HeadDim { get; }
    public double DropoutP { get; }
    public Tensor InProjWeight { get; }
    public Tensor? InProjBias { get; }
    public Linear OutProj { get; }

    /// <summary>Self-attention: the output only.</summary>
    public override Tensor Forward(Tensor x) => Forward(x, x, x, needWeights: false).Output;

    /// <param name="attnMask">optional additive float mask broadcastable to [B, H, L, S] (e.g. [L, S];
    /// use a large negative value or −∞ to block)</param>
    /// <param name="keyPaddingMask">optional additive float mask [B, S]</param>
    /// <param name="needWeights">also return the attention weights (post-dropout, as PyTorch)</param>
    /// <param name="averageWeights">average the weights over heads ([B, L, S]); else [B, H, L, S]</param>
    public (Tensor Output, Tensor? Weights) Forward(Tensor query, Tensor key, Tensor value, bool needWeights = true,
        bool averageWeights = true, Tensor? attnMask = null, Tensor? keyPaddingMask = null)
    {
        const string op = "MultiheadAttention";
        int e = EmbedDim, h = NumHeads, d = HeadDim;
        Check.That(query.Rank == 3 && query.Shape[2] == e, op, $"query has shape {query.Shape}, expected [B, L, {e}]");
        Check.That(key.Rank == 3 && key.Shape[2] == e, op, $"key has shape {key.Shape}, expected [B, S, {e}]");
        Check.That(value.Rank == 3 && value.Shape[2] == e && value.Shape[0] == key.Shape[0] && value.Shape[1] == key.Shape[1],
            op, $"value has shape {value.Shape}, expected the key's [B, S, {e}] = {key.Shape}");
        Check.That(query.Shape[0] == key.Shape[0], op, $"query {query.Shape} and key {key.Shape} differ in batch size");
        int b = query.Shape[0], l = query.Shape[1], s = key.Shape[1];
        if (keyPaddingMask is not null)
            Check.That(keyPaddingMask.Shape == new Shape(b, s), op, $"keyPaddingMask has shape {keyPaddingMask.Shape}, expected [{b}, {s}]");

        var q = Project(query, 0);
        var k = Project(key, 1);
        var v = Project(value, 2);
        // Heads: [B, T, E] → [B, H, T, D] → [B·H, T, D].
        Tensor Heads(Tensor t, int len) => F.Permute(t.Reshape(b, len, h, d), 0, 2, 1, 3).Reshape(b * h, len, d);
        var qh = F.MulScalar(Heads(q, l), 1.0 / Math.Sqrt(d));
        var kh = Heads(k, s);
        var vh = Heads(v, s);
        var scores = F.MatMul(qh, F.Transpose(kh, 1, 2)); // [B·H, L, S]
        if (attnMask is not null || keyPaddingMask is not null)
        {
            var s4 = scores.Reshape(b, h, l, s);
            if (attnMask is not null) s4 = F.Add(s4, attnMask);
            if (keyPaddingMask is not null) s4 = F.Add(s4, keyPaddingMask.Reshape(b, 1, 1, s));
            scores = s4.Reshape(b * h, l, s);
        }
        var attn = F.Softmax(scores, -1);
        if (DropoutP > 0 && IsTraining) attn = F.Dropout(attn, DropoutP, true);
        var ctx = F.MatMul(attn, vh); // [B·H, L, D]
        var merged = F.Permute(ctx.Reshape(b, h, l, d), 0, 2, 1, 3).Reshape(b, l, e);
        var output = OutProj.Forward(merged);
        if (!needWeights) return (output, null);
        var w = attn.Reshape(b, h, l, s);
        return (output, averageWeights ? F.Mean(w, [1]) : w);
    }

    /// <summary>x·W_iᵀ + b_i with the i-th E-row block of the packed in-projection (0 q, 1 k, 2 v).</summary>
    private Tensor Project(Tensor x, int which)
    {
        var w = F.Slice(InProjWeight, 0, which * EmbedDim, EmbedDim);
        var bias = InProjBias is null ? null : F.Slice(InProjBias, 0, which * EmbedDim, EmbedDim);
        return F.Linear(x, w, bias);
    }
}
