using System.Globalization;
using System.Text;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Imaging;
using Kernels.Nets.IO;

namespace Kernels.Nets.Models.Lits;

/// <summary>Options of <see cref="UNetTrainer"/>. The defaults are sized for the phantom task on a
/// 2-core CPU: a narrow (width 8), 3-halving 3-D U-Net on 32×64×64 patches, 15 × 100 steps (about 11 min on the 2-core machine).</summary>
public sealed record UNetTrainOptions
{
    public UNetMode Mode { get; init; } = UNetMode.Unet3d;
    /// <summary>3 sizes (D, H, W) for unet3d, 2 (H, W) for the slice modes; multiples of 2^depth.</summary>
    public int[] Patch { get; init; } = [32, 64, 64];
    /// <summary>2.5D: k slices on each side.</summary>
    public int Context { get; init; } = 1;
    public int BaseWidth { get; init; } = 8;
    public int Depth { get; init; } = 3;
    public UNetNorm Norm { get; init; } = UNetNorm.Instance;
    public UNetDownsampling Down { get; init; } = UNetDownsampling.StridedConv;
    public int Epochs { get; init; } = 15;
    public int StepsPerEpoch { get; init; } = 100;
    public int Batch { get; init; } = 2;
    public double Lr { get; init; } = 3e-3;
    public double WeightDecay { get; init; } = 1e-5;
    public bool BatchDice { get; init; } = true;
    /// <summary>Share of patches centred on a foreground voxel (the rest anywhere), and of those
    /// the share centred on a tumour voxel (nifti-phantom's LitsPatchSampler).</summary>
    public double ForegroundFraction { get; init; } = 0.67;
    public double LesionFraction { get; init; } = 0.5;
    public double RotationProbability { get; init; } = 0.2;
    public double Overlap { get; init; } = 0.5;
    public int TumourDilation { get; init; } = 2;
    public ulong Seed { get; init; } = 1;
    /// <summary>Extra checkpoint metadata (e.g. the preprocessing), stored under extra.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Output classes: 3 (background, liver, tumour), or 2 for a cascade's liver stage.</summary>
    public int Classes { get; init; } = 3;

    public int Dims => Mode == UNetMode.Unet3d ? 3 : 2;

    public UNetConfig NetConfig => new()
    {
        Dims = Dims, InChannels = Mode.InChannels(Context), Classes = Classes, BaseWidth = BaseWidth, Depth = Depth,
        Norm = Norm, Down = Down,
    };

    public void Validate()
    {
        if (Patch.Length != Dims)
            throw new ArgumentException($"--patch {string.Join(',', Patch)}: {Mode.Name()} needs {Dims} sizes ({(Dims == 3 ? "D,H,W" : "H,W")})");
        foreach (var p in Patch)
            if (p <= 0 || p % (1 << Depth) != 0)
                throw new ArgumentException($"--patch {string.Join(',', Patch)}: every size must be a positive multiple of {1 << Depth} (2^depth, depth {Depth})");
        if (Epochs <= 0) throw new ArgumentException($"--epochs must be positive, got {Epochs}");
        if (StepsPerEpoch <= 0) throw new ArgumentException($"--steps-per-epoch must be positive, got {StepsPerEpoch}");
        if (Batch <= 0) throw new ArgumentException($"--batch must be positive, got {Batch}");
        if (!(Lr > 0) || double.IsInfinity(Lr)) throw new ArgumentException($"--lr must be a positive number, got {Lr}");
        if (Context < 0) throw new ArgumentException($"--context must be 0 or more, got {Context}");
        if (Mode == UNetMode.Unet3d && Norm == UNetNorm.Batch && Batch < 2)
            throw new ArgumentException("--norm batch needs --batch 2 or more");
        NetConfig.Validate();
    }
}

/// <summary>One epoch's numbers, as written to metrics.json.</summary>
public sealed record UNetEpoch(int Epoch, double Loss, double LiverDice, double LesionDice, double Seconds, double VoxelsPerSecond, double CpuSeconds);

/// <summary>Validation of one case.</summary>
public sealed record UNetCaseScore(string Id, double LiverDice, double LesionDice);

/// <summary>Trains a U-Net (3-D, 2-D or 2.5D) with Dice + cross-entropy and Adam (cosine decay)
/// on patches with foreground oversampling and flips; after every epoch segments the validation
/// cases whole (sliding window + post-processing) and scores liver Dice (label ≥ 1) and lesion
/// Dice per case (label 2; 1 when both are empty); keeps the best checkpoint (mean of the two),
/// writes metrics.json and overlays of validation slices.</summary>
public sealed class UNetTrainer(UNetTrainOptions options, Device device, Action<string> log)
{
    public sealed record Result(IReadOnlyList<UNetEpoch> Epochs, double LiverDice, double LesionDice, IReadOnlyList<UNetCaseScore> Cases, double Seconds, double CpuSeconds);

    public Result Run(IReadOnlyList<SegmentationCase> train, IReadOnlyList<SegmentationCase> validation, string outDir)
    {
        options.Validate();
        if (validation.Count == 0) throw new ArgumentException("no validation cases");
        Directory.CreateDirectory(outDir);
        Rng.Seed(options.Seed);
        var rng = new Rng(options.Seed * 0x9E3779B97F4A7C15UL + 5);
        var sampler = Sampler(options);
        foreach (var c in train) c.Validate();
        var volumes = train.Select(c => new TrainingVolume(c.Image, c.Labels, (c.Dims[2], c.Dims[1], c.Dims[0]), c.Id)).ToList();
        using var net = new UNet(options.NetConfig, device);
        using var loop = new UNetStepLoop(net, options, rng, log);
        var run = loop.Run;
        long patchVoxels = loop.PatchVoxels;
        log($"{options.Mode.Name()} on {device.Name}: {net.ParameterCount():N0} parameters (base width {options.BaseWidth}, depth {options.Depth}, " +
            $"{(options.Norm == UNetNorm.Instance ? "instance" : "batch")} norm), patch {string.Join('×', options.Patch)} × batch {options.Batch}, " +
            $"{options.Epochs} epochs × {options.StepsPerEpoch} steps; {train.Count} training, {validation.Count} validation cases");

        var epochs = new List<UNetEpoch>();
        double bestScore = double.NegativeInfinity, bestLiver = 0, bestLesion = 0;
        IReadOnlyList<UNetCaseScore> bestCases = [];
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var t0 = loop.Elapsed;
            var (meanLoss, dt) = loop.Epoch(epoch, () => Batch(sampler, volumes, options, rng, device));
            var (liver, lesion, cases, predictions) = Validate(net, validation);
            var e = new UNetEpoch(epoch, meanLoss, liver, lesion, (loop.Elapsed - t0).TotalSeconds,
                options.StepsPerEpoch * patchVoxels / dt, loop.CpuSeconds());
            epochs.Add(e);
            log($"epoch {epoch}: loss {e.Loss:0.0000}  liver dice {liver:0.0000}  lesion dice {lesion:0.0000}  ({e.Seconds:0} s, {loop.Elapsed.TotalMinutes:0.0} min total, cpu {e.CpuSeconds:0} s)");
            double score = (liver + lesion) / 2;
            if (score > bestScore)
            {
                bestScore = score;
                bestLiver = liver;
                bestLesion = lesion;
                bestCases = cases;
                var extra = new Dictionary<string, string>(Metadata(net.Config))
                {
                    ["liver_dice"] = liver.ToString("R", CultureInfo.InvariantCulture),
                    ["lesion_dice"] = lesion.ToString("R", CultureInfo.InvariantCulture),
                };
                foreach (var (k, v) in options.Metadata) extra[k] = v;
                run.Save(Path.Combine(outDir, "checkpoint.safetensors"), extra);
                WriteOverlays(outDir, validation, predictions);
            }
            WriteMetrics(outDir, epochs, bestLiver, bestLesion, bestCases);
            WriteCurves(outDir, epochs);
        }
        return new Result(epochs, bestLiver, bestLesion, bestCases, loop.Elapsed.TotalSeconds, loop.CpuSeconds());
    }

    /// <summary>The patch sampler: 3-D patches (X, Y, Z) = (W, H, D), or for the slice modes
    /// 2k+1 slices (k = 0 for 2-D) whose label is the middle one; flips, rotation about z,
    /// intensity augmentation, foreground and lesion oversampling.</summary>
    public static LitsPatchSampler Sampler(UNetTrainOptions o) => new(new LitsPatchOptions
    {
        Size = o.Mode == UNetMode.Unet3d ? (o.Patch[2], o.Patch[1], o.Patch[0]) : (o.Patch[1], o.Patch[0], 2 * o.Context + 1),
        ForegroundFraction = o.ForegroundFraction, LesionFraction = o.LesionFraction, RotationProbability = o.RotationProbability,
    });

    /// <summary>A training batch: images [B, 1, D, H, W] (3-D) or [B, 2k+1, H, W], labels int32
    /// [B, D, H, W] or [B, H, W] (the middle slice).</summary>
    public static (Tensor Images, Tensor Labels) Batch(LitsPatchSampler sampler, IReadOnlyList<TrainingVolume> volumes, UNetTrainOptions o, Rng rng, Device device)
    {
        var (images, labels) = sampler.Batch(volumes, o.Batch, rng);
        return ToTensors(images, labels, sampler.Options.Size, o, device);
    }

    /// <summary>Sampled patches (x fastest, [B, Z, Y, X]) as the tensors of <see cref="Batch"/>.</summary>
    public static (Tensor Images, Tensor Labels) ToTensors(float[] images, byte[] labels, (int X, int Y, int Z) size, UNetTrainOptions o, Device device)
    {
        var (px, py, pz) = size;
        if (o.Mode == UNetMode.Unet3d)
            return (Tensor.FromArray(images, new Shape(o.Batch, 1, pz, py, px), device),
                Tensor.FromArray(Array.ConvertAll(labels, l => (int)l), new Shape(o.Batch, pz, py, px), device));
        int plane = px * py, k = o.Context;
        var mid = new int[o.Batch * plane];
        for (int b = 0; b < o.Batch; b++)
            for (int i = 0; i < plane; i++) mid[b * plane + i] = labels[((long)b * pz + k) * plane + i];
        return (Tensor.FromArray(images, new Shape(o.Batch, pz, py, px), device), Tensor.FromArray(mid, new Shape(o.Batch, py, px), device));
    }

    /// <summary>The checkpoint metadata that lets `kernels segment` rebuild the segmenter.</summary>
    public Dictionary<string, string> Metadata(UNetConfig config)
    {
        var c = CultureInfo.InvariantCulture;
        var m = config.ToMetadata();
        m["model"] = options.Mode.Name();
        m["patch"] = string.Join(',', options.Patch.Select(p => p.ToString(c)));
        m["context"] = options.Context.ToString(c);
        m["overlap"] = options.Overlap.ToString("R", c);
        m["tumour_dilation"] = options.TumourDilation.ToString(c);
        return m;
    }

    /// <summary>Segments every validation case whole and scores it.</summary>
    public (double Liver, double Lesion, List<UNetCaseScore> Cases, List<byte[]> Predictions) Validate(UNet net, IReadOnlyList<SegmentationCase> cases)
    {
        var seg = new UNetSegmenter(net, options.Mode, options.Patch, options.Context, options.Overlap);
        var scores = new List<UNetCaseScore>();
        var preds = new List<byte[]>();
        foreach (var c in cases)
        {
            var labels = LabelOps.PostProcess(seg.Segment(c.Image, c.Dims, device), c.Dims, options.TumourDilation);
            preds.Add(labels);
            scores.Add(new UNetCaseScore(c.Id, LabelOps.Dice(labels, c.Labels, 1), LabelOps.Dice(labels, c.Labels, 2, exact: true)));
        }
        net.Train();
        return (scores.Average(s => s.LiverDice), scores.Average(s => s.LesionDice), scores, preds);
    }

    internal static void WriteOverlays(string outDir, IReadOnlyList<SegmentationCase> cases, List<byte[]> predictions)
    {
        var dir = Path.Combine(outDir, "overlays");
        Directory.CreateDirectory(dir);
        for (int i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            int z = Overlay.BestSlice(c.Labels, c.Dims);
            Overlay.WriteSlice(Path.Combine(dir, $"case-{c.Id}-slice-{z}.png"), c.Image, c.Labels, predictions[i], c.Dims, z);
        }
    }

    /// <summary>curves.png (loss; liver and lesion Dice per epoch): a picture must never end a run,
    /// so a failure is one warning line.</summary>
    private void WriteCurves(string outDir, IReadOnlyList<UNetEpoch> epochs)
    {
        Curves.TryWritePng(Path.Combine(outDir, "curves.png"),
        [
            new CurvePanel("training loss (Dice + CE)", [new CurveSeries("loss", epochs.Select(e => e.Loss).ToList(), Curves.Blue)]),
            new CurvePanel("validation Dice",
            [
                new CurveSeries("liver", epochs.Select(e => e.LiverDice).ToList(), Curves.Blue),
                new CurveSeries("lesion (per case)", epochs.Select(e => e.LesionDice).ToList(), Curves.Orange),
            ]),
        ], log);
    }

    private static void WriteMetrics(string outDir, IReadOnlyList<UNetEpoch> epochs, double liver, double lesion, IReadOnlyList<UNetCaseScore> cases)
    {
        var ic = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("{\"epochs\":[");
        for (int i = 0; i < epochs.Count; i++)
        {
            var e = epochs[i];
            sb.Append(ic, $"{(i > 0 ? "," : "")}{{\"epoch\":{e.Epoch},\"loss\":{e.Loss:R},\"liver_dice\":{e.LiverDice:R},\"lesion_dice\":{e.LesionDice:R},\"seconds\":{e.Seconds:R},\"voxels_per_second\":{e.VoxelsPerSecond:R},\"cpu_seconds\":{e.CpuSeconds:R}}}");
        }
        sb.Append("],\"final\":{");
        sb.Append(ic, $"\"liver_dice\":{liver:R},\"lesion_dice\":{lesion:R},\"cases\":[");
        for (int i = 0; i < cases.Count; i++)
            sb.Append(ic, $"{(i > 0 ? "," : "")}{{\"id\":\"{cases[i].Id}\",\"liver_dice\":{cases[i].LiverDice:R},\"lesion_dice\":{cases[i].LesionDice:R}}}");
        sb.Append("]}}\n");
        AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.json"), sb.ToString());
    }
}
