using Kernels.Nets.Modules;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.MlDecoder;

/// <summary>The ML-Decoder classification head (arXiv 2111.12933; PAPERS.md section 1):
/// tokens [B, T, C] (or a feature map [B, C, H, W], flattened) → Linear(C → D) + ReLU → one
/// decoder layer whose K queries are frozen N(0, 1) embeddings shared by all images → group
/// decoding with weight [K, D, g], g = int(N / K + 0.999), cut to N columns, plus bias [N].
/// State-dict names are the reference's names under its `decoder.` module (duplicate_pooling,
/// duplicate_pooling_bias, layers.0.*, embed_standart.*, query_embed.weight), so a PyTorch
/// checkpoint loads after stripping `head.decoder.` (TResNet) or `fc.decoder.` (ResNet).
/// The queries are a buffer: saved and loaded with the state dict, never trained (not among
/// <see cref="Module.Parameters"/>, so no optimizer sees them).</summary>
public sealed class MlDecoderHead : ClassifierHead
{
    /// <param name="inFeatures">C, the backbone's channels</param>
    /// <param name="classes">N</param>
    /// <param name="groups">K; ≤ 0 means the reference default min(100, N); capped at N</param>
    /// <param name="rng">dropout generator (null: <see cref="Rng.Global"/>); initialisation uses Rng.Global</param>
    public MlDecoderHead(int inFeatures, int classes, int groups = -1, int embedDim = 768, int heads = 8,
        int feedForward = 2048, double dropout = 0.1, DType dtype = DType.F32, Device? device = null, Rng? rng = null)
    {
        if (inFeatures <= 0 || classes <= 0)
            throw new ArgumentException($"MlDecoderHead: inFeatures {inFeatures} and classes {classes} must be positive");
        int k = groups <= 0 ? 100 : groups;
        k = Math.Min(k, classes);
        InFeatures = inFeatures;
        NumClasses = classes;
        Groups = k;
        EmbedDim = embedDim;
        // The reference's rounding, not an exact ceiling (they differ only when N/K is within 0.001 below an integer).
        GroupSize = (int)(classes / (double)k + 0.999);
        if ((long)k * GroupSize < classes)
            throw new ArgumentException($"MlDecoderHead: {classes} classes do not fit in {k} groups of {GroupSize}");

        DuplicatePooling = RegisterParameter("duplicate_pooling",
            Init.Create([k, embedDim, GroupSize], dtype, device, t => Init.XavierNormal(t)));
        DuplicatePoolingBias = RegisterParameter("duplicate_pooling_bias", Init.Create([classes], dtype, device, Init.Zeros));
        Layers = RegisterModule("layers", new ModuleList<MlDecoderLayer>(
            new MlDecoderLayer(embedDim, heads, feedForward, dropout, 1e-5, dtype, device, rng)));
        EmbedStandart = RegisterModule("embed_standart", new Linear(inFeatures, embedDim, dtype: dtype, device: device));
        QueryEmbed = RegisterModule("query_embed", new FrozenEmbedding(k, embedDim, dtype, device));
    }

    public int InFeatures { get; }
    public int NumClasses { get; }
    public override int Classes => NumClasses;
    public override bool TakesTokens => true;

    /// <summary>K, the number of queries.</summary>
    public int Groups { get; }

    /// <summary>g, the classes per query.</summary>
    public int GroupSize { get; }

    public int EmbedDim { get; }
    public Tensor DuplicatePooling { get; }
    public Tensor DuplicatePoolingBias { get; }
    public ModuleList<MlDecoderLayer> Layers { get; }
    public Linear EmbedStandart { get; }
    public FrozenEmbedding QueryEmbed { get; }

    /// <summary>tokens [B, T, C] or a feature map [B, C, H, W] → logits [B, N].</summary>
    public override Tensor Forward(Tensor x)
    {
        const string op = "MlDecoderHead";
        if (x.Rank == 4)
        {
            Check.That(x.Shape[1] == InFeatures, op, $"feature map has shape {x.Shape}, expected [B, {InFeatures}, H, W]");
            x = ToTokens(x);
        }
        Check.That(x.Rank == 3 && x.Shape[2] == InFeatures, op, $"tokens have shape {x.Shape}, expected [B, T, {InFeatures}]");
        var memory = F.Relu(EmbedStandart.Forward(x));
        int b = x.Shape[0];
        // One copy of the shared queries per image, so the training noise q + Dropout(q) is per image.
        var q = F.Add(Tensor.Zeros([b, Groups, EmbedDim], DuplicatePooling.DType, DuplicatePooling.Device), QueryEmbed.Weight);
        var t = Layers[0].Forward(q, memory);
        return F.GroupDecode(t, DuplicatePooling, DuplicatePoolingBias, NumClasses);
    }
}

/// <summary>A lookup table [count, dim] initialised N(0, 1) and frozen: a buffer named "weight"
/// (the reference's nn.Embedding with requires_grad False), saved in checkpoints, not trained.</summary>
public sealed class FrozenEmbedding : Module
{
    public FrozenEmbedding(int count, int dim, DType dtype = DType.F32, Device? device = null)
    {
        if (count <= 0 || dim <= 0) throw new ArgumentException($"FrozenEmbedding: sizes must be positive, got {count} x {dim}");
        Weight = RegisterBuffer("weight", Init.Create([count, dim], dtype, device, t => Init.Normal(t)));
    }

    public Tensor Weight { get; }
}
