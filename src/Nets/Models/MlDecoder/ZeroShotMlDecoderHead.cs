using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Kernels.Nets.Data;
using Kernels.Nets.IO;
using Kernels.Nets.Metrics;
using Kernels.Nets.Models.Backbones;
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
/// reference it is a member of MLDecoder itself, not of its decoder).
/// As a <see cref="ClassifierHead"/> (inside a <see cref="MultiLabelClassifier"/>) it scores the
/// word vectors set in <see cref="Queries"/>: the seen classes' in training, all classes' in
/// evaluation (<see cref="ZeroShotTraining"/>).</summary>
public sealed class ZeroShotMlDecoderHead : ClassifierHead
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

    /// <summary>The word vectors [Q, E] that <see cref="Forward(Tensor)"/> scores (not a parameter:
    /// not saved, not moved by To; set it on the head's device).</summary>
    public Tensor? Queries { get; set; }

    /// <summary>Q, the rows of <see cref="Queries"/> (0 while unset).</summary>
    public override int Classes => Queries?.Shape[0] ?? 0;

    public override bool TakesTokens => true;

    /// <summary>Extra logits the next training forward appends (0 in eval).</summary>
    public int ExtraQueries => IsTraining ? Augmentation.RandomTokens : 0;

    /// <summary>Scores <see cref="Queries"/> (set them first, or call <see cref="Forward(Tensor, Tensor)"/>).</summary>
    public override Tensor Forward(Tensor x) =>
        Forward(x, Queries ?? throw new InvalidOperationException(
            "ZeroShotMlDecoderHead: no word vectors set in Queries; set them or call Forward(tokens, wordVectors)"));

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

/// <summary>Zero-shot training with <see cref="ZeroShotMlDecoderHead"/> (`kernels train ml-decoder
/// --zero-shot`): the model queries only the seen classes' word vectors in training, so the
/// unseen classes' labels are dropped from the targets (an image holding only unseen classes is
/// an all-negative example), and it queries every class in evaluation, which gives ZSL (unseen
/// columns) and GZSL (all columns) figures: label-wise mAP, F1@3, F1@5
/// (<see cref="ZeroShotEvaluation"/>). The selection metric of a run (its "mAP") is the ZSL mAP.
/// Every evaluation is kept in <see cref="Reports"/>; <see cref="WriteReport"/> writes them.</summary>
public sealed class ZeroShotTraining
{
    public const string ReportFile = "zero-shot.json";

    private readonly float[] _vectors; // [N, E], row c = class c
    private readonly float[] _seenVectors;
    private readonly List<(string Label, ZeroShotReport Report)> _reports = [];

    public ZeroShotTraining(WordVectors wordVectors, IReadOnlyList<string> classNames, ZeroShotSplit split, ZeroShotAugmentation? augmentation = null)
    {
        ArgumentNullException.ThrowIfNull(wordVectors);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(split);
        ClassNames = classNames;
        Split = split;
        WordDim = wordVectors.Dimension;
        Augmentation = augmentation ?? new ZeroShotAugmentation();
        _vectors = wordVectors.Matrix(classNames); // names every class without a vector
        _seenVectors = new float[split.Seen.Length * WordDim];
        for (int i = 0; i < split.Seen.Length; i++)
            _vectors.AsSpan(split.Seen[i] * WordDim, WordDim).CopyTo(_seenVectors.AsSpan(i * WordDim, WordDim));
        Source = wordVectors.Source;
    }

    /// <summary>Builds the setup from the command line's words: <paramref name="wordVectors"/> is a
    /// file (`word v1 … vE` lines) or "synthetic" (<see cref="SyntheticWordVectors"/>, only for the
    /// synthetic task); <paramref name="unseenFile"/> lists the unseen class names, one a line
    /// (null: the synthetic task's default split). Generated vectors and the default split are
    /// written to <paramref name="outDir"/> (word-vectors.txt, unseen.txt) so the run can be repeated.</summary>
    public static ZeroShotTraining FromOptions(string wordVectors, string? unseenFile, IMultiLabelData data, ZeroShotAugmentation augmentation, string? outDir)
    {
        ArgumentNullException.ThrowIfNull(wordVectors);
        ArgumentNullException.ThrowIfNull(data);
        bool synthetic = data is SyntheticMultiLabel;
        WordVectors wv;
        if (wordVectors == "synthetic")
        {
            if (!synthetic) throw new ArgumentException("--word-vectors synthetic: generated vectors exist only for --data synthetic; give a file");
            wv = SyntheticWordVectors.Create(data.Classes);
            if (outDir is not null)
            {
                Directory.CreateDirectory(outDir);
                wv.Save(Path.Combine(outDir, "word-vectors.txt"));
            }
        }
        else wv = WordVectors.Load(wordVectors, data.ClassNames);
        ZeroShotSplit split;
        if (unseenFile is not null) split = ZeroShotSplit.FromUnseenFile(unseenFile, data.ClassNames);
        else
        {
            if (!synthetic) throw new ArgumentException("--zero-shot needs --unseen FILE (the unseen class names, one a line)");
            var names = SyntheticWordVectors.DefaultUnseen(data.Classes);
            split = ZeroShotSplit.Parse(new StringReader(string.Join("\n", names)), "default split", data.ClassNames);
            if (outDir is not null)
            {
                Directory.CreateDirectory(outDir);
                File.WriteAllText(Path.Combine(outDir, "unseen.txt"), string.Join("\n", names) + "\n");
            }
        }
        return new ZeroShotTraining(wv, data.ClassNames, split, augmentation);
    }

    public IReadOnlyList<string> ClassNames { get; }
    public ZeroShotSplit Split { get; }
    public int WordDim { get; }
    public ZeroShotAugmentation Augmentation { get; }
    public string Source { get; }
    public IReadOnlyList<(string Label, ZeroShotReport Report)> Reports => _reports;

    /// <summary>A one-line description for logs and the resume fingerprint.</summary>
    public string Describe() =>
        $"zero-shot: {Split.Seen.Length} seen / {Split.Unseen.Length} unseen classes ({string.Join(", ", Split.Unseen.Select(c => ClassNames[c]))}), " +
        $"word vectors {Source} (E {WordDim}), random tokens {Augmentation.RandomTokens}, word-vector noise {Augmentation.WordVectorNoiseStd}";

    /// <summary>Backbone (as <see cref="MlDecoderSpec.Build"/> names them) + zero-shot head.</summary>
    public MultiLabelClassifier Build(MlDecoderSpec spec, Device device)
    {
        Backbone body = spec.Backbone switch
        {
            "resnet18" => ResNet.ResNet18(device: device),
            "resnet50" => ResNet.ResNet50(device: device),
            "tiny-tresnet" => new TinyTResNet(device: device),
            _ => throw new ArgumentException($"backbone '{spec.Backbone}': use tiny-tresnet, resnet18 or resnet50"),
        };
        var head = new ZeroShotMlDecoderHead(body.OutChannels, WordDim, spec.EmbedDim, spec.Heads, spec.FeedForward,
            augmentation: Augmentation, device: device);
        var model = new MultiLabelClassifier(body, head);
        model.To(device);
        return model;
    }

    /// <summary>Sets the head's queries to the seen classes (training).</summary>
    public void UseSeen(MultiLabelClassifier model) => SetQueries(model, _seenVectors, Split.Seen.Length);

    /// <summary>Sets the head's queries to all classes in class order (evaluation).</summary>
    public void UseAll(MultiLabelClassifier model) => SetQueries(model, _vectors, ClassNames.Count);

    /// <summary>Training targets [B, N] → the seen columns [B, S], plus zeros for the head's random-token queries.</summary>
    public Tensor TrainTargets(MultiLabelClassifier model, Tensor targets)
    {
        var head = Head(model);
        int n = ClassNames.Count;
        Check.That(targets.Rank == 2 && targets.Shape[1] == n, "ZeroShotTraining", $"targets have shape {targets.Shape}, expected [B, {n}]");
        int b = targets.Shape[0], s = Split.Seen.Length;
        var all = targets.ToFloats();
        var seen = new float[b * s];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < s; j++) seen[i * s + j] = all[i * n + Split.Seen[j]];
        return head.ExtendTargets(Tensor.From<float>(seen, [b, s], targets.Device));
    }

    /// <summary>Scores every class on the data's validation set and returns the ZSL/GZSL figures
    /// (kept in <see cref="Reports"/> under <paramref name="label"/>). Leaves the head in eval
    /// mode with all classes as queries.</summary>
    public ZeroShotReport Evaluate(MultiLabelClassifier model, IMultiLabelData data, Device device, string label)
    {
        ArgumentNullException.ThrowIfNull(data);
        UseAll(model);
        var (scores, targets) = MlDecoderTrainer.ValidationScores(model, data, device);
        int n = data.ValidationCount, classes = data.Classes;
        var report = ZeroShotEvaluation.Evaluate(scores, targets, n, classes, Split.Unseen);
        _reports.Add((label, report));
        return report;
    }

    /// <summary>One log line: ZSL and GZSL mAP, F1@3, F1@5.</summary>
    public static string Summary(string label, ZeroShotReport r) => string.Create(CultureInfo.InvariantCulture,
        $"{label}: ZSL mAP {r.Zsl.Map.Map:0.00} F1@3 {r.Zsl.At3.F1:0.00} F1@5 {r.Zsl.At5.F1:0.00} | " +
        $"GZSL mAP {r.Gzsl.Map.Map:0.00} F1@3 {r.Gzsl.At3.F1:0.00} F1@5 {r.Gzsl.At5.F1:0.00}");

    /// <summary>Writes every evaluation (label, ZSL and GZSL mAP / P / R / F1 at 3 and 5) as JSON.</summary>
    public void WriteReport(string outDir)
    {
        static object Figures(ZeroShotMetrics m) => new
        {
            map = m.Map.Map, p3 = m.At3.Precision, r3 = m.At3.Recall, f1_3 = m.At3.F1,
            p5 = m.At5.Precision, r5 = m.At5.Recall, f1_5 = m.At5.F1, columns = m.Columns,
        };
        var doc = new
        {
            seen = Split.Seen.Select(c => ClassNames[c]).ToArray(),
            unseen = Split.Unseen.Select(c => ClassNames[c]).ToArray(),
            word_vectors = Source,
            evaluations = _reports.Select(r => new { label = r.Label, zsl = Figures(r.Report.Zsl), gzsl = Figures(r.Report.Gzsl), images = r.Report.Images }).ToArray(),
        };
        var json = JsonSerializer.Serialize(doc, new JsonSerializerOptions
        {
            WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        });
        AtomicFile.WriteAllText(Path.Combine(outDir, ReportFile), json + "\n");
    }

    private static ZeroShotMlDecoderHead Head(MultiLabelClassifier model) =>
        model.Head as ZeroShotMlDecoderHead
        ?? throw new ArgumentException($"ZeroShotTraining: the model's head is {model.Head.GetType().Name}, not a ZeroShotMlDecoderHead");

    private void SetQueries(MultiLabelClassifier model, float[] vectors, int rows)
    {
        var head = Head(model);
        var device = head.DuplicatePooling.Device;
        // Owned here, outside every TensorScope (Keep moves one level up per call); the previous
        // tensor is disposed.
        var t = Tensor.From<float>(vectors, [rows, WordDim], device);
        while (t.Scope is not null) TensorScope.Keep(t);
        var old = head.Queries;
        head.Queries = t;
        old?.Dispose();
    }
}
