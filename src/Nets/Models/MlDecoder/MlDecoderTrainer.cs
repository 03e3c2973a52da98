using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kernels.Nets.Data;
using Kernels.Nets.IO;
using Kernels.Nets.Losses;
using Kernels.Nets.Metrics;
using Kernels.Nets.Models.Backbones;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using Kernels.Nets.Training;

namespace Kernels.Nets.Models.MlDecoder;

/// <summary>Options of <see cref="MlDecoderTrainer"/>: the paper's recipe (Adam with L2 decay on
/// weights only, OneCycle with 20% warm-up, EMA of the weights, ASL γ−=4 γ+=0 clip 0.05 summed,
/// inputs in [0, 1]) on the synthetic multi-label task, sized by default for a few minutes on a
/// 2-core CPU (small backbone, 64-pixel images, a narrower decoder than the paper's 768).</summary>
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
    public int EmbedDim { get; init; } = 768;
    public int FeedForward { get; init; } = 2048;
    public int Heads { get; init; } = 8;
    public int Epochs { get; init; } = 10;
    public int StepsPerEpoch { get; init; } = 60;
    public int Batch { get; init; } = 32;
    public double Lr { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 1e-4;
    public double EmaDecay { get; init; } = 0.9997;
    public int ValidationImages { get; init; } = 512;
    public ulong Seed { get; init; } = 1;

    public void Validate()
    {
        static void Positive(string name, double v)
        {
            if (!(v > 0) || double.IsInfinity(v)) throw new ArgumentException($"{name} must be a positive number, got {v}");
        }
        Positive("--classes", Classes); Positive("--image-size", ImageSize); Positive("--epochs", Epochs);
        Positive("--batch", Batch); Positive("--lr", Lr); Positive("steps per epoch", StepsPerEpoch);
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
/// (temporary file, then rename) and writes metrics.json.</summary>
public sealed class MlDecoderTrainer(MlDecoderTrainOptions options, Device device, Action<string> log, IMultiLabelData? data = null)
{
    /// <summary>The data source: the one given, else the synthetic task sized by the options.</summary>
    public IMultiLabelData Data { get; } = data ?? new SyntheticMultiLabel(options.Classes, options.ImageSize) { ValidationImages = options.ValidationImages };

    public MultiLabelClassifier Build()
    {
        Backbone body = options.Backbone switch
        {
            "resnet18" => ResNet.ResNet18(device: device),
            "resnet50" => ResNet.ResNet50(device: device),
            _ => new TinyTResNet(device: device),
        };
        ClassifierHead head = options.Head == "gap"
            ? new GapHead(body.OutChannels, Data.Classes, device: device)
            : new MlDecoderHead(body.OutChannels, Data.Classes, options.Groups, options.EmbedDim, options.Heads,
                options.FeedForward, device: device);
        var model = new MultiLabelClassifier(body, head);
        model.To(device);
        return model;
    }

    /// <summary>Runs the whole training; returns the epochs and the best mAP (model or EMA).</summary>
    public (IReadOnlyList<MlDecoderEpoch> Epochs, double BestMap) Run(string outDir)
    {
        options.Validate();
        Directory.CreateDirectory(outDir);
        Rng.Seed(options.Seed);
        var data = Data;
        var trainRng = new Rng(options.Seed * 0x9E3779B97F4A7C15UL + 1);

        using var model = Build();
        using var emaModel = Build();
        var ema = new ModelEma(model, options.EmaDecay, warmup: true);
        using var opt = new Adam(ParamGroup.DecayAndNoDecay(model, options.WeightDecay), lr: options.Lr);
        int total = options.Epochs * options.StepsPerEpoch;
        var sched = new OneCycleLR(opt, maxLr: options.Lr, totalSteps: total, pctStart: 0.2);
        var loss = new AsymmetricLoss();
        var run = new TrainingRun(model, opt, sched, ema, trainRng);
        log($"ml-decoder on {device.Name}: {options.Backbone} + {options.Head} head, {model.ParameterCount():N0} trainable parameters, " +
            $"{data.Description}, {options.Epochs} epochs × {options.StepsPerEpoch} steps × {options.Batch} images");

        var epochs = new List<MlDecoderEpoch>();
        double best = double.NegativeInfinity;
        var sw = Stopwatch.StartNew();
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            model.Train();
            double lossSum = 0;
            var t0 = sw.Elapsed;
            for (int s = 0; s < options.StepsPerEpoch; s++)
            {
                using var scope = TensorScope.Begin();
                var (x, y) = data.TrainBatch(options.Batch, trainRng, device);
                var l = loss.Forward(model.Forward(x), y);
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
                if ((s + 1) % Math.Max(1, options.StepsPerEpoch / 5) == 0)
                {
                    double done = (epoch - 1) * options.StepsPerEpoch + s + 1;
                    double rate = done * options.Batch / sw.Elapsed.TotalSeconds;
                    var eta = TimeSpan.FromSeconds((total - done) * options.Batch / rate);
                    log($"  epoch {epoch}/{options.Epochs} step {s + 1}/{options.StepsPerEpoch} loss {v / options.Batch:0.0000} " +
                        $"{rate:0} img/s ETA {eta:mm\\:ss}");
                }
            }
            run.Epoch = epoch;
            double map = Evaluate(model, data);
            ema.CopyTo(emaModel);
            double mapEma = Evaluate(emaModel, data);
            var dt = (sw.Elapsed - t0).TotalSeconds;
            var e = new MlDecoderEpoch(epoch, lossSum / options.StepsPerEpoch / options.Batch, map, mapEma, dt,
                options.StepsPerEpoch * options.Batch / dt);
            epochs.Add(e);
            log($"epoch {epoch}: loss/image {e.Loss:0.0000}  mAP {map:0.00}  mAP(EMA) {mapEma:0.00}  {e.ImagesPerSecond:0} img/s");
            double better = Math.Max(map, mapEma);
            if (better > best)
            {
                best = better;
                // The best weights: the EMA's when it wins (copied into the model's slot of the checkpoint).
                var extra = new Dictionary<string, string>
                {
                    ["model"] = "ml-decoder", ["backbone"] = options.Backbone, ["head"] = options.Head,
                    ["classes"] = data.Classes.ToString(CultureInfo.InvariantCulture),
                    ["image_size"] = options.ImageSize.ToString(CultureInfo.InvariantCulture),
                    ["weights"] = mapEma > map ? "ema" : "model", ["map"] = better.ToString("R", CultureInfo.InvariantCulture),
                };
                if (mapEma > map) new TrainingRun(emaModel, rng: trainRng) { Step = run.Step, Epoch = epoch }.Save(Path.Combine(outDir, "checkpoint.safetensors"), extra);
                else run.Save(Path.Combine(outDir, "checkpoint.safetensors"), extra);
            }
            WriteMetrics(outDir, epochs, best);
        }
        return (epochs, best);
    }

    /// <summary>mAP (percent) of a model on the data source's fixed validation set, read in slices.</summary>
    public double Evaluate(MultiLabelClassifier m, IMultiLabelData source)
    {
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
                m.Forward(x).ToArray<float>().CopyTo(scores, (long)i * classes);
            }
        return MultiLabelMetrics.MeanAveragePrecision(scores, targets, n, classes).Map;
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

    private static void WriteMetrics(string outDir, IReadOnlyList<MlDecoderEpoch> epochs, double best)
    {
        var sb = new StringBuilder("{\"epochs\":[");
        for (int i = 0; i < epochs.Count; i++)
        {
            var e = epochs[i];
            sb.Append(CultureInfo.InvariantCulture,
                $"{(i > 0 ? "," : "")}{{\"epoch\":{e.Epoch},\"loss\":{e.Loss:R},\"map\":{e.Map:R},\"map_ema\":{e.MapEma:R},\"seconds\":{e.Seconds:R},\"images_per_second\":{e.ImagesPerSecond:R}}}");
        }
        sb.Append(CultureInfo.InvariantCulture, $"],\"map\":{best:R}}}\n");
        var path = Path.Combine(outDir, "metrics.json");
        AtomicFile.WriteAllText(path, sb.ToString());
    }
}
