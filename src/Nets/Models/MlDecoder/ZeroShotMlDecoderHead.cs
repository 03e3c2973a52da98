using Kernels.Nets.Modules;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.MlDecoder;

/// <summary>Query augmentations of the zero-shot head, used in training only (the paper's; the
/// reference code lacks them). Off by default.</summary>
public sealed record ZeroShotAugmentation
{
    /// <summary>Random-token queries: this many extra word vectors drawn N(0, RandomTokenStd²)
    /// per forward, appended after the real queries; their targets are negative.</summary>
    public int RandomTokens { get; init; }

    /// <summary>Standard deviation of the random-token vectors (word vectors have roughly unit
    /// norm, so 1/√300 per component by default).</summary>
    public double RandomTokenStd { get; init; } = 1 / Math.Sqrt(300);

    /// <summary>Standard deviation of additive Gaussian noise on the word vectors (0: none).</summary>
    public double WordVectorNoiseStd { get; init; }
}

/// <summary>The ML-Decoder head in zero-shot mode: the queries are word vectors [Q, E] (E = 300)
/// given at each call, projected by Linear(E → D) + ReLU ("wordvec_proj"); the group decoding
/// becomes one shared vector duplicate_pooling [D, 1] plus a scalar duplicate_pooling_bias [1],
/// so any number of queries (unseen classes included) gives one logit each: [B, Q].
/// In training, <see cref="Augmentation"/> may add noise to the word vectors and append random
/// token queries: the output is then [B, Q + RandomTokens] (see <see cref="ExtendTargets"/>).
/// The decoder's names are the non-zero-shot head's; wordvec_proj sits beside them (in the
/// reference it is a member of MLDecoder itself, not of its decoder).</summary>
public sealed class ZeroShotMlDecoderHead : Module
{
    public ZeroShotMlDecoderHead(int inFeatures, int wordDim = 300, int embedDim = 768, int heads = 8, int feedForward = 2048,
        double dropout = 0.1, ZeroShotAugmentation? augmentation = null, DType dtype = DType.F32, Device? device = null,
        Rng? rng = null)
    {
        if (inFeatures <= 0 || wordDim <= 0)
            throw new ArgumentException($"ZeroShotMlDecoderHead: inFeatures {inFeatures} and wordDim {wordDim} must be positive");
        Augmentation = augmentation ?? new ZeroShotAugmentation();
        if (Augmentation.RandomTokens < 0 || Augmentation.RandomTokenStd < 0 || Augmentation.WordVectorNoiseStd < 0)
            throw new ArgumentException($"ZeroShotMlDecoderHead: augmentation {Augmentation} has a negative setting");
        InFeatures = inFeatures;
        WordDim = wordDim;
        EmbedDim = embedDim;
        _rng = rng;
        DuplicatePooling = RegisterParameter("duplicate_pooling", Init.Create([embedDim, 1], dtype, device, t => Init.XavierNormal(t)));
        DuplicatePoolingBias = RegisterParameter("duplicate_pooling_bias", Init.Create([1], dtype, device, Init.Zeros));
        Layers = RegisterModule("layers", new ModuleList<MlDecoderLayer>(
            new MlDecoderLayer(embedDim, heads, feedForward, dropout, 1e-5, dtype, device, rng)));
        EmbedStandart = RegisterModule("embed_standart", new Linear(inFeatures, embedDim, dtype: dtype, device: device));
        WordVecProj = RegisterModule("wordvec_proj", new Linear(wordDim, embedDim, dtype: dtype, device: device));
    }

    private readonly Rng? _rng;

    public int InFeatures { get; }
    public int WordDim { get; }
    public int EmbedDim { get; }
    public ZeroShotAugmentation Augmentation { get; set; }
    public Tensor DuplicatePooling { get; }
    public Tensor DuplicatePoolingBias { get; }
    public ModuleList<MlDecoderLayer> Layers { get; }
    public Linear EmbedStandart { get; }
    public Linear WordVecProj { get; }

    /// <summary>Extra logits the next training forward appends (0 in eval).</summary>
    public int ExtraQueries => IsTraining ? Augmentation.RandomTokens : 0;

    /// <summary>Use <see cref="Forward(Tensor, Tensor)"/> (the word vectors are a second input).</summary>
    public override Tensor Forward(Tensor x) =>
        throw new NotSupportedException("ZeroShotMlDecoderHead needs the word vectors: call Forward(tokens, wordVectors)");

    /// <summary>tokens [B, T, C] or a feature map [B, C, H, W], word vectors [Q, E] → logits
    /// [B, Q] (eval) or [B, Q + RandomTokens] (training with random-token augmentation).</summary>
    public Tensor Forward(Tensor x, Tensor wordVectors)
    {
        const string op = "ZeroShotMlDecoderHead";
        if (x.Rank == 4)
        {
            Check.That(x.Shape[1] == InFeatures, op, $"feature map has shape {x.Shape}, expected [B, {InFeatures}, H, W]");
            x = ClassifierHead.ToTokens(x);
        }
        Check.That(x.Rank == 3 && x.Shape[2] == InFeatures, op, $"tokens have shape {x.Shape}, expected [B, T, {InFeatures}]");
        Check.That(wordVectors.Rank == 2 && wordVectors.Shape[1] == WordDim && wordVectors.Shape[0] > 0, op,
            $"word vectors have shape {wordVectors.Shape}, expected [Q, {WordDim}] with Q ≥ 1");
        var dtype = DuplicatePooling.DType;
        var device = DuplicatePooling.Device;
        var words = wordVectors.DType == dtype ? wordVectors : wordVectors.To(dtype);
        if (IsTraining)
        {
            var rng = _rng ?? Rng.Global;
            if (Augmentation.WordVectorNoiseStd > 0)
                words = F.Add(words, Normal([words.Shape[0], WordDim], Augmentation.WordVectorNoiseStd, dtype, device, rng));
            if (Augmentation.RandomTokens > 0)
                words = F.Concat([words, Normal([Augmentation.RandomTokens, WordDim], Augmentation.RandomTokenStd, dtype, device, rng)], 0);
        }
        int b = x.Shape[0], q = words.Shape[0];
        var memory = F.Relu(EmbedStandart.Forward(x));
        var queries = F.Relu(WordVecProj.Forward(words));                        // [Q, D]
        var tgt = F.Add(Tensor.Zeros([b, q, EmbedDim], dtype, device), queries); // one copy per image
        var t = Layers[0].Forward(tgt, memory);                                   // [B, Q, D]
        return F.Add(F.MatMul(t, DuplicatePooling).Reshape(b, q), DuplicatePoolingBias);
    }

    /// <summary>Targets [B, Q] → [B, Q + <see cref="ExtraQueries"/>], the random tokens negative (0).</summary>
    public Tensor ExtendTargets(Tensor targets)
    {
        int extra = ExtraQueries;
        if (extra == 0) return targets;
        Check.That(targets.Rank == 2, "ZeroShotMlDecoderHead", $"targets have shape {targets.Shape}, expected [B, Q]");
        return F.Concat([targets, Tensor.Zeros([targets.Shape[0], extra], targets.DType, targets.Device)], 1);
    }

    private static Tensor Normal(Shape shape, double std, DType dtype, Device device, Rng rng)
    {
        var host = new double[shape.Numel];
        rng.FillNormal(host, 0, std);
        return Tensor.FromHost(host, shape, dtype, device);
    }
}
