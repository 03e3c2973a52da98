using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Imaging;
using Kernels.Nets.IO;
using Kernels.Nets.Metrics.Lits;
using Kernels.Nets.Training;

namespace Kernels.Nets.Models.Lits;

/// <summary>Options of <see cref="CascadeTrainer"/>: one <see cref="UNetTrainOptions"/> per stage
/// (their Seed and Metadata are not used), the liver stage's downsampling, the box margin used at
/// inference and the jitter of the box faces in training. Defaults sized for the phantom task on
/// the 2-core CPU (see docs/decisions/0017-cascade-training.md).</summary>
public sealed record CascadeTrainOptions
{
    public UNetTrainOptions Liver { get; init; } = DefaultLiver(UNetMode.Unet3d);
    public UNetTrainOptions Tumour { get; init; } = DefaultTumour(UNetMode.Unet3d);
    public int Downsample { get; init; } = 2;
    /// <summary>Voxels added to the liver box on every face (D, H, W), at inference and (± jitter) in training.</summary>
    public int[] Margin { get; init; } = [3, 6, 6];
    public int[] Jitter { get; init; } = [2, 4, 4];
    public ulong Seed { get; init; } = 1;
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>The liver stage: background vs liver on the downsampled volume; the 3-D default patch
    /// covers a whole downsampled 96×96×48 phantom.</summary>
    public static UNetTrainOptions DefaultLiver(UNetMode mode) => mode == UNetMode.Unet3d
        ? new() { Mode = mode, Context = 0, Classes = 2, Patch = [24, 48, 48], BaseWidth = 8, Depth = 3, Batch = 2, Epochs = 5, StepsPerEpoch = 60, ForegroundFraction = 0.5 }
        : new() { Mode = mode, Context = mode == UNetMode.Unet25d ? 1 : 0, Classes = 2, Patch = [48, 48], BaseWidth = 16, Depth = 4, Batch = 8, Epochs = 5, StepsPerEpoch = 60, ForegroundFraction = 0.5 };

    /// <summary>The tumour stage: background, liver, tumour at full resolution inside the liver box.</summary>
    public static UNetTrainOptions DefaultTumour(UNetMode mode) => mode == UNetMode.Unet3d
        ? new() { Mode = mode, Context = 0, Patch = [32, 48, 48], BaseWidth = 8, Depth = 3, Batch = 2, Epochs = 12, StepsPerEpoch = 150, ForegroundFraction = 0.67, LesionFraction = 0.6 }
        : new() { Mode = mode, Context = mode == UNetMode.Unet25d ? 1 : 0, Patch = [64, 64], BaseWidth = 16, Depth = 4, Batch = 8, Epochs = 12, StepsPerEpoch = 100, ForegroundFraction = 0.67, LesionFraction = 0.6 };

    public void Validate()
    {
        if (Downsample < 1) throw new ArgumentException($"--downsample must be at least 1 (1 = no downsampling), got {Downsample}");
        if (Margin.Length != 3 || Margin.Any(m => m < 0)) throw new ArgumentException($"--margin {string.Join(',', Margin)}: give 3 sizes D,H,W of 0 or more");
        if (Jitter.Length != 3 || Jitter.Any(m => m < 0)) throw new ArgumentException($"--jitter {string.Join(',', Jitter)}: give 3 sizes D,H,W of 0 or more");
        if (Liver.Classes != 2) throw new ArgumentException($"the liver stage has 2 classes (background, liver), got {Liver.Classes}");
        if (Tumour.Classes != 3) throw new ArgumentException($"the tumour stage has 3 classes (background, liver, tumour), got {Tumour.Classes}");
        if (Liver.Mode == UNetMode.Unet25d && Tumour.Mode == UNetMode.Unet25d && Liver.Context != Tumour.Context)
            throw new ArgumentException($"both 2.5D stages need the same --context (liver {Liver.Context}, tumour {Tumour.Context})");
        if ((Liver.Mode != UNetMode.Unet25d && Liver.Context != 0) || (Tumour.Mode != UNetMode.Unet25d && Tumour.Context != 0))
            throw new ArgumentException("a context (adjacent slices) belongs to unet25d stages only; set it to 0 for unet3d and unet2d");
        Stage("liver", Liver);
        Stage("tumour", Tumour);

        static void Stage(string name, UNetTrainOptions o)
        {
            try
            {
                o.Validate();
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{name} stage: {e.Message} (the cascade's options are --{name}-patch, --{name}-epochs, --{name}-steps ...)", e);
            }
        }
    }
}

/// <summary>One epoch of one stage, as written to metrics.json. The liver stage's Dice is stage 1
/// alone (largest component, upsampled); the tumour stage's are the whole cascade's.</summary>
public sealed record CascadeEpoch(int Epoch, double Loss, double LiverDice, double LesionDice, double Seconds, double CpuSeconds);

/// <summary>Trains the LiTS cascade (PAPERS.md section 7): stage 1, a liver U-Net on volumes
/// downsampled by <see cref="CascadeTrainOptions.Downsample"/>; stage 2, a background / liver /
/// tumour U-Net at full resolution on patches from the reference liver's box plus a jittered
/// margin (<see cref="CascadeSampling"/>). After every stage-2 epoch the whole
/// <see cref="Cascade"/> (stage 1 → box → stage 2 → post-processing) segments the validation cases
/// and the LiTS evaluation scores them; the best epoch (mean of liver and lesion Dice per case) is
/// kept as checkpoint.safetensors (<see cref="CascadeNets"/> + its metadata, which
/// <see cref="LoadedSegmenter"/> reads). Writes metrics.json, curves.png and overlays/.</summary>
public sealed class CascadeTrainer(CascadeTrainOptions options, Device device, Action<string> log)
{
    public sealed record Result(IReadOnlyList<CascadeEpoch> LiverEpochs, IReadOnlyList<CascadeEpoch> TumourEpochs, int BestEpoch,
        double LiverDice, double LesionDice, LitsSummary Summary, IReadOnlyList<UNetCaseScore> Cases, double Seconds, double CpuSeconds);

    public Result Run(IReadOnlyList<SegmentationCase> train, IReadOnlyList<SegmentationCase> validation, string outDir)
    {
        options.Validate();
        if (train.Count == 0) throw new ArgumentException("no training cases");
        if (validation.Count == 0) throw new ArgumentException("no validation cases");
        foreach (var c in train) c.Validate();
        foreach (var c in validation) c.Validate();
        var tumourCases = new List<CascadeTumourCase>();
        foreach (var c in train)
        {
            if (c.Labels.Any(l => l >= 1)) tumourCases.Add(new CascadeTumourCase(c));
            else log($"case {c.Id}: its segmentation has no liver (label ≥ 1); the liver stage uses it as a negative example, the tumour stage leaves it out");
        }
        if (tumourCases.Count == 0)
            throw new ArgumentException($"none of the {train.Count} training cases has a liver (label ≥ 1) in its segmentation; the cascade needs livers to train on (check the segmentation files)");
        Directory.CreateDirectory(outDir);
        Rng.Seed(options.Seed);
        var rng = new Rng(options.Seed * 0x9E3779B97F4A7C15UL + 7);
        var sw = Stopwatch.StartNew();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        double CpuSeconds() => (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        using var nets = new CascadeNets(new UNet(options.Liver.NetConfig, device), new UNet(options.Tumour.NetConfig, device));

        // Stage 1: the liver on downsampled volumes, so a patch sees (most of) the organ.
        var small = train.Select(c => CascadeSampling.Downsampled(c, options.Downsample)).ToList();
        var liverVolumes = small.Select(c => new TrainingVolume(c.Image, c.Labels, (c.Dims[2], c.Dims[1], c.Dims[0]), c.Id)).ToList();
        var liverSampler = UNetTrainer.Sampler(options.Liver);
        log($"cascade on {device.Name}: {train.Count} training cases ({tumourCases.Count} with a liver), {validation.Count} validation cases");
        log($"stage 1 (liver): {Describe(options.Liver, nets.Liver)} on volumes downsampled ×{options.Downsample} (e.g. {Shape.Format(small[0].Dims)})");
        var liverEpochs = new List<CascadeEpoch>();
        var tumourEpochs = new List<CascadeEpoch>();
        using (var loop = new UNetStepLoop(nets.Liver, options.Liver, rng, log, "liver "))
        {
            for (int epoch = 1; epoch <= options.Liver.Epochs; epoch++)
            {
                var t0 = sw.Elapsed;
                var (loss, _) = loop.Epoch(epoch, () => UNetTrainer.Batch(liverSampler, liverVolumes, options.Liver, rng, device));
                var stage1 = Build(nets);
                double dice = validation.Average(c => LiverDice(stage1.Liver(c.Image, c.Dims), c.Labels));
                var e = new CascadeEpoch(epoch, loss, dice, double.NaN, (sw.Elapsed - t0).TotalSeconds, CpuSeconds());
                liverEpochs.Add(e);
                log($"liver epoch {epoch}: loss {loss:0.0000}  liver dice {dice:0.0000} (stage 1 alone)  ({e.Seconds:0} s, {sw.Elapsed.TotalMinutes:0.0} min total, cpu {e.CpuSeconds:0} s)");
            }
        }

        // Stage 2: liver and tumours at full resolution inside the (jittered) reference liver box.
        var tumourSampler = UNetTrainer.Sampler(options.Tumour);
        log($"stage 2 (tumour): {Describe(options.Tumour, nets.Tumour)} in the liver box + margin {string.Join(',', options.Margin)} ± jitter {string.Join(',', options.Jitter)}");
        int bestEpoch = 0;
        double bestScore = double.NegativeInfinity;
        LitsReport? best = null;
        using (var loop = new UNetStepLoop(nets.Tumour, options.Tumour, rng, log, "tumour "))
        {
            for (int epoch = 1; epoch <= options.Tumour.Epochs; epoch++)
            {
                var t0 = sw.Elapsed;
                var (loss, _) = loop.Epoch(epoch, () =>
                {
                    var (images, labels) = CascadeSampling.Batch(tumourCases, tumourSampler, options.Tumour.Batch, options.Margin, options.Jitter, rng);
                    return UNetTrainer.ToTensors(images, labels, tumourSampler.Options.Size, options.Tumour, device);
                });
                var (report, predictions) = Validate(nets, validation);
                var s = report.Summary;
                var e = new CascadeEpoch(epoch, loss, s.LiverDicePerCase, s.LesionDicePerCase, (sw.Elapsed - t0).TotalSeconds, CpuSeconds());
                tumourEpochs.Add(e);
                log($"tumour epoch {epoch}: loss {loss:0.0000}  cascade liver dice {e.LiverDice:0.0000}  lesion dice {e.LesionDice:0.0000}  ({e.Seconds:0} s, {sw.Elapsed.TotalMinutes:0.0} min total, cpu {e.CpuSeconds:0} s)");
                double score = (e.LiverDice + e.LesionDice) / 2;
                if (score > bestScore)
                {
                    bestScore = score;
                    bestEpoch = epoch;
                    best = report;
                    var run = new TrainingRun(nets, rng: rng) { Step = loop.Run.Step, Epoch = epoch };
                    run.Save(Path.Combine(outDir, "checkpoint.safetensors"), Metadata(nets, e));
                    UNetTrainer.WriteOverlays(outDir, validation, predictions);
                }
                WriteMetrics(outDir, liverEpochs, tumourEpochs, bestEpoch, best!);
                WriteCurves(outDir, liverEpochs, tumourEpochs);
            }
        }
        var cases = best!.Cases.Select(c => new UNetCaseScore(c.Id, c.Liver.Dice, c.LesionDice)).ToList();
        return new Result(liverEpochs, tumourEpochs, bestEpoch, best.Summary.LiverDicePerCase, best.Summary.LesionDicePerCase, best.Summary, cases,
            sw.Elapsed.TotalSeconds, CpuSeconds());
    }

    private static string Describe(UNetTrainOptions o, UNet net) =>
        $"{o.Mode.Name()}, {net.ParameterCount():N0} parameters (base width {o.BaseWidth}, depth {o.Depth}), {o.Config()}";

    /// <summary>The cascade of the two networks as inference runs it.</summary>
    public Cascade Build(CascadeNets nets)
    {
        var liver = new UNetSegmenter(nets.Liver, options.Liver.Mode, options.Liver.Patch, options.Liver.Context, options.Liver.Overlap);
        var tumour = new UNetSegmenter(nets.Tumour, options.Tumour.Mode, options.Tumour.Patch, options.Tumour.Context, options.Tumour.Overlap);
        return new Cascade((img, d) => liver.Segment(img, d, device), (img, d) => tumour.Segment(img, d, device),
            options.Downsample, options.Margin, options.Tumour.TumourDilation);
    }

    /// <summary>Segments every validation case with the whole cascade and scores it with the LiTS evaluation.</summary>
    public (LitsReport Report, List<byte[]> Predictions) Validate(CascadeNets nets, IReadOnlyList<SegmentationCase> cases)
    {
        var cascade = Build(nets);
        var evaluator = new LitsEvaluator();
        var predictions = new List<byte[]>();
        foreach (var c in cases)
        {
            var p = cascade.Segment(c.Image, c.Dims);
            predictions.Add(p);
            evaluator.AddCase<byte>(c.Id, p, c.Labels, new VolumeShape(c.Dims[2], c.Dims[1], c.Dims[0]),
                new VoxelSpacing(c.Spacing[2], c.Spacing[1], c.Spacing[0]));
        }
        return (evaluator.Finish(), predictions);
    }

    private static double LiverDice(bool[] pred, byte[] reference)
    {
        long inter = 0, p = 0, r = 0;
        for (int i = 0; i < pred.Length; i++)
        {
            bool b = reference[i] >= 1;
            if (pred[i]) p++;
            if (b) r++;
            if (pred[i] && b) inter++;
        }
        return p + r == 0 ? 1.0 : 2.0 * inter / (p + r);
    }

    /// <summary>CascadeNets.Metadata (what <see cref="LoadedSegmenter"/> needs) plus the run's scores and preprocessing.</summary>
    private Dictionary<string, string> Metadata(CascadeNets nets, CascadeEpoch e)
    {
        var ic = CultureInfo.InvariantCulture;
        int context = options.Tumour.Mode == UNetMode.Unet25d ? options.Tumour.Context : options.Liver.Context;
        var m = CascadeNets.Metadata(options.Liver.Mode, options.Liver.Patch, nets.Liver.Config, options.Tumour.Mode, options.Tumour.Patch,
            nets.Tumour.Config, options.Downsample, options.Margin, options.Tumour.TumourDilation, context, options.Tumour.Overlap);
        m["jitter"] = string.Join(',', options.Jitter.Select(j => j.ToString(ic)));
        m["liver_dice"] = e.LiverDice.ToString("R", ic);
        m["lesion_dice"] = e.LesionDice.ToString("R", ic);
        foreach (var (k, v) in options.Metadata) m[k] = v;
        return m;
    }

    private void WriteCurves(string outDir, List<CascadeEpoch> liver, List<CascadeEpoch> tumour)
    {
        Curves.TryWritePng(Path.Combine(outDir, "curves.png"),
        [
            new CurvePanel("stage 1 (liver, downsampled)",
            [
                new CurveSeries("loss", liver.Select(e => e.Loss).ToList(), Curves.Blue),
                new CurveSeries("liver dice (stage 1 alone)", liver.Select(e => e.LiverDice).ToList(), Curves.Green),
            ]),
            new CurvePanel("stage 2 (tumour, in the liver box)", [new CurveSeries("loss", tumour.Select(e => e.Loss).ToList(), Curves.Blue)]),
            new CurvePanel("cascade validation Dice",
            [
                new CurveSeries("liver", tumour.Select(e => e.LiverDice).ToList(), Curves.Blue),
                new CurveSeries("lesion (per case)", tumour.Select(e => e.LesionDice).ToList(), Curves.Orange),
            ]),
        ], log);
    }

    private void WriteMetrics(string outDir, List<CascadeEpoch> liver, List<CascadeEpoch> tumour, int bestEpoch, LitsReport best)
    {
        var ic = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("{");
        void Stage(string name, UNetTrainOptions o, List<CascadeEpoch> epochs, bool lesion)
        {
            sb.Append(ic, $"\"{name}\":{{\"model\":\"{o.Mode.Name()}\",\"patch\":[{string.Join(',', o.Patch)}],\"epochs\":[");
            for (int i = 0; i < epochs.Count; i++)
            {
                var e = epochs[i];
                sb.Append(ic, $"{(i > 0 ? "," : "")}{{\"epoch\":{e.Epoch},\"loss\":{e.Loss:R},\"liver_dice\":{e.LiverDice:R},");
                if (lesion) sb.Append(ic, $"\"lesion_dice\":{e.LesionDice:R},");
                sb.Append(ic, $"\"seconds\":{e.Seconds:R},\"cpu_seconds\":{e.CpuSeconds:R}}}");
            }
            sb.Append("]},");
        }
        Stage("liver_stage", options.Liver, liver, false);
        Stage("tumour_stage", options.Tumour, tumour, true);
        var s = best.Summary;
        sb.Append(ic, $"\"downsample\":{options.Downsample},\"margin\":[{string.Join(',', options.Margin)}],\"jitter\":[{string.Join(',', options.Jitter)}],");
        sb.Append(ic, $"\"final\":{{\"epoch\":{bestEpoch},\"liver_dice\":{s.LiverDicePerCase:R},\"lesion_dice\":{s.LesionDicePerCase:R},");
        sb.Append(ic, $"\"liver_dice_global\":{s.LiverDiceGlobal:R},\"lesion_dice_global\":{s.LesionDiceGlobal:R},");
        sb.Append(ic, $"\"detection\":{{\"precision\":{s.Precision:R},\"recall\":{s.Recall:R}}},\"cases\":[");
        for (int i = 0; i < best.Cases.Count; i++)
        {
            var c = best.Cases[i];
            sb.Append(ic, $"{(i > 0 ? "," : "")}{{\"id\":\"{c.Id}\",\"liver_dice\":{c.Liver.Dice:R},\"lesion_dice\":{c.LesionDice:R}}}");
        }
        sb.Append("]}}\n");
        AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.json"), sb.ToString());
    }
}

internal static class CascadeOptionText
{
    /// <summary>"patch 32×64×64 × batch 2, 10 epochs × 100 steps".</summary>
    public static string Config(this UNetTrainOptions o) =>
        $"patch {string.Join('×', o.Patch)} × batch {o.Batch}, {o.Epochs} epochs × {o.StepsPerEpoch} steps";
}
