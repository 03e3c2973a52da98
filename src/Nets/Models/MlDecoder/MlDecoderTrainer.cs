using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Kernels.Nets.Data;
using Kernels.Nets.Imaging;
using Kernels.Nets.IO;
using Kernels.Nets.Losses;
using Kernels.Nets.Metrics;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using Kernels.Nets.Training;

namespace Kernels.Nets.Models.MlDecoder;

/// <summary>Options of <see cref="MlDecoderTrainer"/>: the paper's recipe (Adam with L2 decay on
/// weights only, OneCycle with 20% warm-up, EMA of the weights, ASL γ−=4 γ+=0 clip 0.05 summed,
/// inputs in [0, 1]) on the synthetic multi-label task, sized by default for a few minutes on a
/// 2-core CPU (small backbone, 64-pixel images, a decoder of width 256 rather than the paper's 768).</summary>
public sealed record MlDecoderTrainOptions
{
    public int Classes { get; init; } = 20;
    public int ImageSize { get; init; } = 64;
    /// <summary>tiny-tresnet, resnet18 or resnet50.</summary>
    public string Backbone { get; init; } = "tiny-tresnet";
    /// <summary>ml-decoder or gap.</summary>
    public string Head { get; init; } = "ml-decoder";
    /// <summary>Queries K (−1: min(100, N)).</summary>
    public int Groups { get; init; } = -1;
    /// <summary>Decoder width D. The paper's 768 sits on 2048-channel backbones; the default
    /// tiny-tresnet yields 128 channels, and at D 768 the head costs about as much per step as the
    /// whole backbone (decision 0020). 256 keeps the head in proportion; --embed-dim 768
    /// --feed-forward 2048 gives the paper's head.</summary>
    public int EmbedDim { get; init; } = 256;
    public int FeedForward { get; init; } = 1024;
    public int Heads { get; init; } = 8;
    public int Epochs { get; init; } = 10;
    public int StepsPerEpoch { get; init; } = 60;
    public int Batch { get; init; } = 32;
    public double Lr { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 1e-4;
    public double EmaDecay { get; init; } = 0.9997;
    public int ValidationImages { get; init; } = 512;
    public ulong Seed { get; init; } = 1;
    /// <summary>Zero-shot mode (--zero-shot): word-vector queries, seen classes in training, ZSL/GZSL evaluation.</summary>
    public ZeroShotTraining? ZeroShot { get; init; }

    public void Validate()
    {
        static void Positive(string name, double v)
        {
            if (!(v > 0) || double.IsInfinity(v)) throw new ArgumentException($"{name} must be a positive number, got {v}");
        }
        Positive("--classes", Classes); Positive("--image-size", ImageSize); Positive("--epochs", Epochs);
        Positive("--batch", Batch); Positive("--lr", Lr); Positive("steps per epoch", StepsPerEpoch);
        Positive("--val-images", ValidationImages);
        if (Classes > SyntheticMultiLabel.MaxClasses)
            throw new ArgumentException($"--classes {Classes}: the synthetic task has at most {SyntheticMultiLabel.MaxClasses} classes");
        if (ImageSize < 32 || ImageSize % 32 != 0)
            throw new ArgumentException($"--image-size {ImageSize}: use a multiple of 32, at least 32 (the backbones downsample by 16 or 32)");
        if (Backbone is not ("tiny-tresnet" or "resnet18" or "resnet50"))
            throw new ArgumentException($"--backbone '{Backbone}': use tiny-tresnet, resnet18 or resnet50");
        if (Head is not ("ml-decoder" or "gap")) throw new ArgumentException($"--head '{Head}': use ml-decoder or gap");
        if (Groups == 0 || Groups < -1) throw new ArgumentException($"--groups {Groups}: use a positive number of queries (or -1 for min(100, N))");
        if (EmbedDim % Heads != 0) throw new ArgumentException($"--embed-dim {EmbedDim} must be a multiple of the {Heads} heads");
    }
}

/// <summary>One epoch's numbers, as written to metrics.json.</summary>
public sealed record MlDecoderEpoch(int Epoch, double Loss, double Map, double MapEma, double Seconds, double ImagesPerSecond);

/// <summary>Trains a backbone + ML-Decoder (or pooling) head on the synthetic multi-label task,
/// evaluates the model and its EMA every epoch on a fixed held-out set, keeps the best weights
/// (checkpoint.safetensors), and after every epoch writes metrics.json, curves.png and the
/// resumable state last.safetensors (all through a temporary file and a rename).
/// <see cref="Resume"/> continues from last.safetensors at the next epoch; the result is the
/// same as an uninterrupted run's (on the same device).</summary>
public sealed class MlDecoderTrainer(MlDecoderTrainOptions options, Device device, Action<string> log, IMultiLabelData? data = null)
{
    /// <summary>Checkpoint metadata: the training data's description and its held-out image count.</summary>
    public const string DataKey = "data", ValidationImagesKey = "validation_images";

    public const string BestFile = "checkpoint.safetensors", LastFile = "last.safetensors",
        MetricsFile = "metrics.json", CurvesFile = "curves.png";

    /// <summary>The data source: the one given, else the synthetic task sized by the options
    /// (created on first use, so invalid options fail in <see cref="MlDecoderTrainOptions.Validate"/>).</summary>
    public IMultiLabelData Data => _data ??= data ?? new SyntheticMultiLabel(options.Classes, options.ImageSize) { ValidationImages = options.ValidationImages };

    private IMultiLabelData? _data;

    /// <summary>Per-step progress and the run's lines (default: plain lines through the log).</summary>
    public ITrainingProgress Progress { get; init; } = new LineProgress(log);

    /// <summary>Continue the run whose state is in the output directory's last.safetensors.</summary>
    public bool Resume { get; init; }

    /// <summary>The architecture this trainer builds.</summary>
    public MlDecoderSpec Spec => new(options.Backbone, options.Head, Data.Classes, options.Groups, options.EmbedDim,
        options.Heads, options.FeedForward, options.ImageSize);

    public MultiLabelClassifier Build() => options.ZeroShot is { } z ? z.Build(Spec, device) : Spec.Build(device);

    /// <summary>Runs the whole training; returns the epochs and the best mAP (model or EMA).
    /// When <paramref name="cancel"/> fires, it stops after the current step: the epoch in
    /// progress is lost and last.safetensors holds the last finished one (resume from there).</summary>
    public (IReadOnlyList<MlDecoderEpoch> Epochs, double BestMap) Run(string outDir, CancellationToken cancel = default)
    {
        options.Validate();
        Directory.CreateDirectory(outDir);
        var lastPath = Path.Combine(outDir, LastFile);
        var fingerprint = Fingerprint();
        if (Resume) CheckResumable(lastPath, fingerprint);
        Rng.Seed(options.Seed);
        var data = Data;
        var trainRng = new Rng(options.Seed * 0x9E3779B97F4A7C15UL + 1);

        using var model = Build();
        using var emaModel = Build();
        using var ema = new ModelEma(model, options.EmaDecay, warmup: true);
        using var opt = new Adam(ParamGroup.DecayAndNoDecay(model, options.WeightDecay), lr: options.Lr);
        int total = options.Epochs * options.StepsPerEpoch;
        var sched = new OneCycleLR(opt, maxLr: options.Lr, totalSteps: total, pctStart: 0.2);
        var loss = new AsymmetricLoss();
        var run = new TrainingRun(model, opt, sched, ema, trainRng);
        var spec = Spec;
        var classNames = data.ClassNames;

        var epochs = new List<MlDecoderEpoch>();
        double best = double.NegativeInfinity;
        int bestEpoch = 0;
        if (Resume)
        {
            (best, bestEpoch) = LoadLast(lastPath, run, epochs);
            Progress.Line($"resuming {outDir} after epoch {run.Epoch} of {options.Epochs} (best mAP so far {best:0.00}, epoch {bestEpoch})");
        }
        else
        {
            Progress.Line($"ml-decoder on {device.Name}: {options.Backbone} + {options.Head} head, {model.ParameterCount():N0} trainable parameters, " +
                          $"{data.Description}, {options.Epochs} epochs × {options.StepsPerEpoch} steps × {options.Batch} images");
        }

        var sw = Stopwatch.StartNew();
        long sessionSteps = 0;
        double trainSeconds = 0; // steps only: images/s is the training throughput, the ETA counts evaluation too
        for (int epoch = run.Epoch + 1; epoch <= options.Epochs; epoch++)
        {
            model.Train();
            options.ZeroShot?.UseSeen(model);
            double lossSum = 0;
            var t0 = sw.Elapsed;
            double epochTrainSeconds = 0;
            for (int s = 0; s < options.StepsPerEpoch; s++)
            {
                if (cancel.IsCancellationRequested)
                {
                    Progress.Line($"stopped in epoch {epoch}; {LastFile} holds epoch {run.Epoch}: continue with --resume");
                    return (epochs, best);
                }
                var stepStart = sw.Elapsed;
                using var scope = TensorScope.Begin();
                var (x, y) = data.TrainBatch(options.Batch, trainRng, device);
                var l = loss.Forward(model.Forward(x), options.ZeroShot?.TrainTargets(model, y) ?? y);
                opt.ZeroGrad();
                l.Backward();
                opt.Step();
                sched.Step();
                ema.Update(model);
                run.Step++;
                double v = l.Item();
                if (!double.IsFinite(v))
                    throw new InvalidOperationException($"the loss became {v} at epoch {epoch}, step {s + 1}; lower --lr (now {options.Lr})");
                lossSum += v;
                sessionSteps++;
                double stepSeconds = (sw.Elapsed - stepStart).TotalSeconds;
                trainSeconds += stepSeconds;
                epochTrainSeconds += stepSeconds;
                double elapsed = sw.Elapsed.TotalSeconds;
                double done = (epoch - 1) * (double)options.StepsPerEpoch + s + 1;
                Progress.Step(new TrainingStep(epoch, options.Epochs, s + 1, options.StepsPerEpoch, v / options.Batch,
                    sessionSteps * options.Batch / Math.Max(trainSeconds, 1e-9),
                    TimeSpan.FromSeconds((total - done) * elapsed / sessionSteps)));
            }
            run.Epoch = epoch;
            double map = Evaluate(model, data, $"epoch {epoch} model");
            ema.CopyTo(emaModel);
            double mapEma = Evaluate(emaModel, data, $"epoch {epoch} EMA");
            var dt = (sw.Elapsed - t0).TotalSeconds;
            var e = new MlDecoderEpoch(epoch, lossSum / options.StepsPerEpoch / options.Batch, map, mapEma, dt,
                options.StepsPerEpoch * options.Batch / Math.Max(epochTrainSeconds, 1e-9));
            epochs.Add(e);
            Progress.Line($"epoch {epoch}: loss/image {e.Loss:0.0000}  mAP {map:0.00}  mAP(EMA) {mapEma:0.00}  {e.ImagesPerSecond:0} img/s");
            double better = Math.Max(map, mapEma);
            if (better > best)
            {
                best = better;
                bestEpoch = epoch;
                // The best weights: the EMA's when it wins (copied into the model's slot of the checkpoint).
                var extra = ModelMetadata(spec, classNames);
                extra["weights"] = mapEma > map ? "ema" : "model";
                extra["map"] = better.ToString("R", CultureInfo.InvariantCulture);
                var bestPath = Path.Combine(outDir, BestFile);
                if (mapEma > map) new TrainingRun(emaModel, rng: trainRng) { Step = run.Step, Epoch = epoch }.Save(bestPath, extra);
                else new TrainingRun(model, rng: trainRng) { Step = run.Step, Epoch = epoch }.Save(bestPath, extra);
            }
            SaveLast(lastPath, run, spec, classNames, fingerprint, epochs, best, bestEpoch);
            WriteMetrics(outDir, epochs, best, bestEpoch);
            WriteCurves(outDir, epochs);
            options.ZeroShot?.WriteReport(outDir);
        }
        return (epochs, best);
    }

    /// <summary>The options a resumed run must share with the one that wrote last.safetensors,
    /// under their command-line names.</summary>
    private Dictionary<string, string> Fingerprint()
    {
        static string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        static string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["--data"] = Data.Description, ["--classes"] = I(Data.Classes), ["--augment"] = Augment(Data), ["--image-size"] = I(options.ImageSize),
            ["--backbone"] = options.Backbone, ["--head"] = options.Head, ["--groups"] = I(options.Groups),
            ["--embed-dim"] = I(options.EmbedDim), ["--feed-forward"] = I(options.FeedForward), ["heads"] = I(options.Heads),
            ["--epochs"] = I(options.Epochs), ["--steps-per-epoch"] = I(options.StepsPerEpoch), ["--batch"] = I(options.Batch),
            ["--lr"] = D(options.Lr), ["weight decay"] = D(options.WeightDecay), ["EMA decay"] = D(options.EmaDecay),
            ["--val-images"] = I(Data.ValidationCount),
            ["--zero-shot"] = options.ZeroShot?.Describe() ?? "off", ["--seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
        };
    }

    private static string Augment(IMultiLabelData data)
    {
        var a = data switch
        {
            SyntheticMultiLabel s => s.Augmentation,
            CocoMultiLabel c => c.Augmentation,
            _ => null,
        };
        if (a is null) return "unknown";
        if (!a.Any) return "none";
        var parts = new List<string>();
        if (a.Cutout) parts.Add(string.Create(CultureInfo.InvariantCulture, $"cutout({a.CutoutFraction:R}{(a.CutoutRandomFill ? ",random-fill" : "")})"));
        if (a.RandAugment) parts.Add(string.Create(CultureInfo.InvariantCulture, $"randaugment({a.RandAugmentOps},{a.RandAugmentMagnitude})"));
        return string.Join("+", parts);
    }

    private const string OptionPrefix = "option.", GlobalRngKey = "rng_global", HistoryKey = "history",
        BestKey = "best_map", BestEpochKey = "best_epoch";

    // mAP is NaN when no held-out image has a positive label: keep such values rather than fail.
    private static readonly JsonSerializerOptions s_json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Refuses to resume from a missing state or one written with other options (naming the first that differs).</summary>
    private static void CheckResumable(string lastPath, IReadOnlyDictionary<string, string> fingerprint)
    {
        if (!File.Exists(lastPath))
            throw new FileNotFoundException($"--resume: there is no {lastPath} to continue from (it is written after every epoch)", lastPath);
        var meta = SafeTensors.ReadHeader(lastPath).Metadata;
        foreach (var (name, value) in fingerprint)
        {
            if (!meta.TryGetValue($"{TrainingCheckpoint.ExtraPrefix}.{OptionPrefix}{name}", out var saved))
                throw new InvalidDataException($"--resume: {lastPath} does not record {name}; it was not written by `kernels train ml-decoder`");
            if (saved != value)
                throw new ArgumentException($"--resume: {lastPath} was written with {name} {saved}, this run has {name} {value}; " +
                                            "resume with the same options (or train into a new --out)");
        }
    }

    private void SaveLast(string path, TrainingRun run, MlDecoderSpec spec, IReadOnlyList<string> classNames,
        IReadOnlyDictionary<string, string> fingerprint, IReadOnlyList<MlDecoderEpoch> epochs, double best, int bestEpoch)
    {
        var extra = ModelMetadata(spec, classNames);
        foreach (var (k, v) in fingerprint) extra[OptionPrefix + k] = v;
        // Dropout draws from the global generator: resuming must continue its stream too.
        extra[GlobalRngKey] = RngState.Encode(Rng.Global);
        extra[HistoryKey] = JsonSerializer.Serialize(epochs.Select(e => new[] { e.Epoch, e.Loss, e.Map, e.MapEma, e.Seconds, e.ImagesPerSecond }), s_json);
        extra[BestKey] = best.ToString("R", CultureInfo.InvariantCulture);
        extra[BestEpochKey] = bestEpoch.ToString(CultureInfo.InvariantCulture);
        run.Save(path, extra);
    }

    private static (double Best, int BestEpoch) LoadLast(string path, TrainingRun run, List<MlDecoderEpoch> epochs)
    {
        run.Load(path);
        var meta = SafeTensors.ReadHeader(path).Metadata;
        string Need(string key) => meta.TryGetValue($"{TrainingCheckpoint.ExtraPrefix}.{key}", out var v)
            ? v
            : throw new InvalidDataException($"--resume: {path} lacks '{key}'; it was not written by `kernels train ml-decoder`");
        RngState.Restore(Rng.Global, Need(GlobalRngKey));
        var rows = JsonSerializer.Deserialize<double[][]>(Need(HistoryKey), s_json)
                   ?? throw new InvalidDataException($"--resume: {path}: '{HistoryKey}' is empty");
        foreach (var r in rows)
        {
            if (r.Length != 6) throw new InvalidDataException($"--resume: {path}: a '{HistoryKey}' row has {r.Length} values, not 6");
            epochs.Add(new MlDecoderEpoch((int)r[0], r[1], r[2], r[3], r[4], r[5]));
        }
        if (epochs.Count != run.Epoch)
            throw new InvalidDataException($"--resume: {path} is at epoch {run.Epoch} but records {epochs.Count} epochs of metrics");
        return (double.Parse(Need(BestKey), CultureInfo.InvariantCulture), int.Parse(Need(BestEpochKey), CultureInfo.InvariantCulture));
    }

    /// <summary>What eval and predict need to rebuild the model: the architecture and the class names.</summary>
    private Dictionary<string, string> ModelMetadata(MlDecoderSpec spec, IReadOnlyList<string> classNames)
    {
        var extra = spec.ToMetadata();
        extra["model"] = "ml-decoder";
        // Which held-out set the reported mAP is on, so `kernels eval` can default to the same one.
        extra[DataKey] = Data.Description;
        extra[ValidationImagesKey] = Data.ValidationCount.ToString(CultureInfo.InvariantCulture);
        if (options.ZeroShot is { } z) extra[MlDecoderSpec.ZeroShotKey] = z.Describe();
        extra[MlDecoderSpec.ClassNamesKey] = JsonSerializer.Serialize(classNames);
        return extra;
    }

    /// <summary>curves.png: a picture must never end a run, so a failure is one warning line.</summary>
    private void WriteCurves(string outDir, IReadOnlyList<MlDecoderEpoch> epochs)
    {
        Curves.TryWritePng(Path.Combine(outDir, CurvesFile),
        [
            new CurvePanel("training loss per image", [new CurveSeries("loss", epochs.Select(e => e.Loss).ToList(), Curves.Blue)]),
            new CurvePanel("held-out mAP (%)",
            [
                new CurveSeries("model", epochs.Select(e => e.Map).ToList(), Curves.Blue),
                new CurveSeries("EMA", epochs.Select(e => e.MapEma).ToList(), Curves.Orange),
            ]),
        ], Progress.Line);
    }

    /// <summary>mAP (percent) of a model on the data source's fixed validation set, read in slices
    /// (zero-shot: the ZSL mAP; the ZSL/GZSL line is logged under <paramref name="label"/>).</summary>
    public double Evaluate(MultiLabelClassifier m, IMultiLabelData source, string label = "model")
    {
        if (options.ZeroShot is { } z)
        {
            var report = z.Evaluate(m, source, device, label);
            Progress.Line(ZeroShotTraining.Summary(label, report));
            return report.Zsl.Map.Map;
        }
        var (scores, targets) = ValidationScores(m, source, device);
        return MultiLabelMetrics.MeanAveragePrecision(scores, targets, source.ValidationCount, source.Classes).Map;
    }

    /// <summary>The model's logits and the targets, both [ValidationCount, Classes] row-major, on
    /// the data source's validation set (eval mode, no gradients, slices of 64 images).</summary>
    public static (float[] Scores, float[] Targets) ValidationScores(MultiLabelClassifier m, IMultiLabelData source, Device device)
    {
        if (m.Classes != source.Classes)
            throw new ArgumentException($"the model has {m.Classes} classes, the data ({source.Description}) {source.Classes}");
        m.Eval();
        int n = source.ValidationCount, classes = source.Classes, chunk = 64;
        var scores = new float[(long)n * classes];
        var targets = new float[(long)n * classes];
        using (Autograd.NoGrad())
            for (int i = 0; i < n; i += chunk)
            {
                using var scope = TensorScope.Begin();
                var batch = source.ValidationBatch(i, Math.Min(chunk, n - i));
                batch.Targets.CopyTo(targets, (long)i * classes);
                var (x, _) = batch.ToTensors(device);
                m.Forward(x).ToFloats().CopyTo(scores, (long)i * classes);
            }
        return (scores, targets);
    }

    /// <summary>mAP (percent, PAPERS.md's definition) of a model on the held-out set.</summary>
    public double Evaluate(MultiLabelClassifier m, Tensor images, float[] targets)
    {
        m.Eval();
        int n = images.Shape[0], chunk = 64;
        var scores = new float[n * m.Classes];
        using (Autograd.NoGrad())
            for (int i = 0; i < n; i += chunk)
            {
                using var scope = TensorScope.Begin();
                int len = Math.Min(chunk, n - i);
                var logits = m.Forward(Functional.Slice(images, 0, i, len));
                logits.ToArray<float>().CopyTo(scores, i * m.Classes);
            }
        return MultiLabelMetrics.MeanAveragePrecision(scores, targets, n, m.Classes).Map;
    }

    private static void WriteMetrics(string outDir, IReadOnlyList<MlDecoderEpoch> epochs, double best, int bestEpoch)
    {
        var sb = new StringBuilder("{\"epochs\":[");
        for (int i = 0; i < epochs.Count; i++)
        {
            var e = epochs[i];
            sb.Append(CultureInfo.InvariantCulture,
                $"{(i > 0 ? "," : "")}{{\"epoch\":{e.Epoch},\"loss\":{e.Loss:R},\"map\":{e.Map:R},\"map_ema\":{e.MapEma:R},\"seconds\":{e.Seconds:R},\"images_per_second\":{e.ImagesPerSecond:R}}}");
        }
        sb.Append(CultureInfo.InvariantCulture, $"],\"map\":{best:R},\"best_epoch\":{bestEpoch}}}\n");
        var path = Path.Combine(outDir, MetricsFile);
        AtomicFile.WriteAllText(path, sb.ToString());
    }
}
