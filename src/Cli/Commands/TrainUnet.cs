using System.CommandLine;
using System.Globalization;
using Kernels.Nets;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Data.Nifti;
using Kernels.Nets.Models.Lits;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels train unet3d|unet2d|unet25d`: a U-Net for liver and tumour segmentation on
/// phantoms generated in memory (default) or a LiTS-layout folder (UNetTrainer). The last line
/// printed is `final liver dice: X lesion dice: Y` (the best epoch's validation means).</summary>
public static class TrainUnet
{
    public static Command Create(CliContext cli, UNetMode mode)
    {
        var d = new UNetTrainOptions();
        int[] defaultPatch = mode == UNetMode.Unet3d ? d.Patch : [96, 96];
        var data = new Option<string>("--data") { Description = "phantom (generated in memory) or lits:<dir> (volume-N.nii[.gz] + segmentation-N.nii[.gz])", DefaultValueFactory = _ => "phantom" };
        var cases = new Option<int>("--cases") { Description = "Phantom training cases", DefaultValueFactory = _ => 40 };
        var valCases = new Option<int>("--val-cases") { Description = "Held-out phantom cases (lits: the last fifth of the cases)", DefaultValueFactory = _ => 4 };
        var size = new Option<string>("--size") { Description = "Phantom size X,Y,Z in voxels", DefaultValueFactory = _ => "96,96,48" };
        var epochs = new Option<int>("--epochs") { Description = "Epochs (validation after each)", DefaultValueFactory = _ => d.Epochs };
        var steps = new Option<int>("--steps-per-epoch") { Description = "Optimizer steps per epoch", DefaultValueFactory = _ => mode == UNetMode.Unet3d ? d.StepsPerEpoch : 100 };
        var patch = new Option<string>("--patch") { Description = "Patch D,H,W (unet3d) or H,W (unet2d, unet25d); multiples of 2^depth", DefaultValueFactory = _ => string.Join(',', defaultPatch) };
        var batch = new Option<int>("--batch") { Description = "Patches per step", DefaultValueFactory = _ => mode == UNetMode.Unet3d ? d.Batch : 8 };
        var width = new Option<int>("--width") { Description = "Channels of the first stage (doubling per stage)", DefaultValueFactory = _ => mode == UNetMode.Unet3d ? d.BaseWidth : 16 };
        var depth = new Option<int>("--depth") { Description = "Number of halvings", DefaultValueFactory = _ => mode == UNetMode.Unet3d ? d.Depth : 4 };
        var norm = new Option<string>("--norm") { Description = "instance or batch", DefaultValueFactory = _ => "instance" };
        var down = new Option<string>("--down") { Description = "strided (conv) or maxpool", DefaultValueFactory = _ => "strided" };
        var context = new Option<int>("--context") { Description = "unet25d: slices on each side (2k+1 channels)", DefaultValueFactory = _ => d.Context };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (AdamW, cosine decay)", DefaultValueFactory = _ => d.Lr };
        var spacing = new Option<string?>("--spacing")
        {
            Description = "Voxel spacing X,Y,Z in mm every case is resampled to (image trilinear, labels nearest), or native to keep each case's own; " +
                          "default for lits: the median spacing of the training cases, for phantoms: their generator spacing",
        };
        var maxCases = new Option<int>("--max-cases") { Description = "lits: use only the first N cases of the folder (0: all)", DefaultValueFactory = _ => 0 };
        var maxMemory = new Option<double?>("--max-memory") { Description = "GiB the prepared cases may take (estimated from the headers before reading); default 60% of the memory available" };
        var outDir = new Option<string>("--out") { Description = "Directory for checkpoint.safetensors (best), metrics.json and overlays/", DefaultValueFactory = _ => $"runs/{mode.Name()}" };
        var cmd = new Command(mode.Name(), mode switch
        {
            UNetMode.Unet3d => "Train a 3-D U-Net (Dice + cross-entropy) for liver and tumour segmentation",
            UNetMode.Unet2d => "Train a 2-D U-Net on axial slices for liver and tumour segmentation",
            _ => "Train a 2.5D U-Net (2k+1 adjacent slices as channels) for liver and tumour segmentation",
        })
        {
            data, cases, valCases, size, spacing, maxCases, maxMemory, epochs, steps, patch, batch, width, depth, norm, down, context, lr, outDir,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            var window = new HuWindow();
            var o = new UNetTrainOptions
            {
                Mode = mode, Patch = ParseInts(parse.GetValue(patch)!, "--patch"), Context = mode == UNetMode.Unet25d ? parse.GetValue(context) : 0,
                BaseWidth = parse.GetValue(width), Depth = parse.GetValue(depth),
                Norm = parse.GetValue(norm) switch
                {
                    "instance" => UNetNorm.Instance,
                    "batch" => UNetNorm.Batch,
                    var n => throw new ArgumentException($"--norm '{n}': use instance or batch"),
                },
                Down = parse.GetValue(down) switch
                {
                    "strided" => UNetDownsampling.StridedConv,
                    "maxpool" => UNetDownsampling.MaxPool,
                    var n => throw new ArgumentException($"--down '{n}': use strided or maxpool"),
                },
                Epochs = parse.GetValue(epochs), StepsPerEpoch = parse.GetValue(steps), Batch = parse.GetValue(batch),
                Lr = parse.GetValue(lr), Seed = run.Seed ?? 1, Metadata = window.ToMetadata(),
            };
            o.Validate();
            void Log(string line) => cli.Out.MarkupLine(Markup.Escape(line));
            var prep = new UnetDataOptions
            {
                Spacing = parse.GetValue(spacing), MaxCases = parse.GetValue(maxCases),
                MemoryLimitBytes = parse.GetValue(maxMemory) is { } gib
                    ? gib > 0 && double.IsFinite(gib) ? (long)Math.Max(1, gib * (1L << 30)) : throw new ArgumentException($"--max-memory must be a positive number of GiB, got {gib}")
                    : null,
            };
            var loaded = Load(parse.GetValue(data)!, parse.GetValue(cases), parse.GetValue(valCases), parse.GetValue(size)!, o.Seed, window, Log, prep);
            var (train, val) = (loaded.Train, loaded.Val);
            // `kernels segment` brings an input to this spacing (absent or "native": used as it is).
            o = o with { Metadata = new Dictionary<string, string>(o.Metadata) { [TrainingSpacing.MetadataKey] = TrainingSpacing.ToText(loaded.Spacing) } };
            var result = new UNetTrainer(o, run.Device, Log).Run(train, val, parse.GetValue(outDir)!);
            foreach (var c in result.Cases)
                Log($"  case {c.Id}: liver dice {c.LiverDice:0.0000} lesion dice {c.LesionDice:0.0000}");
            Log($"wall time {result.Seconds / 60:0.0} min (process cpu {result.CpuSeconds / 60:0.0} min); wrote {Path.Combine(parse.GetValue(outDir)!, "checkpoint.safetensors")}, metrics.json, overlays/");
            cli.Out.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"final liver dice: {result.LiverDice:0.0000} lesion dice: {result.LesionDice:0.0000}"));
            return Program.ExitOk;
        });
        return cmd;
    }

    /// <summary>The training and validation cases (see <see cref="Load"/>), without the spacing.</summary>
    internal static (List<SegmentationCase> Train, List<SegmentationCase> Val) LoadData(string spec, int nTrain, int nVal, string size,
        ulong seed, HuWindow window, Action<string> log, UnetDataOptions? prep = null)
    {
        var d = Load(spec, nTrain, nVal, size, seed, window, log, prep);
        return (d.Train, d.Val);
    }

    /// <summary>Generates phantoms or reads a LiTS folder, resamples every case to the training
    /// spacing (image trilinear, labels nearest), applies the HU window. For a LiTS folder the
    /// memory the prepared cases need is estimated from the NIfTI headers first and a request
    /// over the limit is refused before any voxel is read.</summary>
    internal static UnetData Load(string spec, int nTrain, int nVal, string size, ulong seed, HuWindow window, Action<string> log, UnetDataOptions? prep = null)
    {
        prep ??= new UnetDataOptions();
        if (prep.MaxCases < 0) throw new ArgumentException($"--max-cases must be 0 (all) or positive, got {prep.MaxCases}");
        long limit = prep.MemoryLimitBytes ?? TrainingMemory.DefaultLimit();
        if (limit <= 0) throw new ArgumentException($"--max-memory must be positive, got {prep.MemoryLimitBytes} bytes");
        string limitText = prep.MemoryLimitBytes is null
            ? $"{TrainingMemory.Gib(limit)} ({TrainingMemory.DefaultFraction * 100:0}% of the {TrainingMemory.Gib(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes)} available; --max-memory GiB sets it)"
            : $"{TrainingMemory.Gib(limit)} (--max-memory)";
        if (prep.Spacing is not null) TrainingSpacing.Parse(prep.Spacing); // bad text fails before anything is read
        if (spec == "phantom") return LoadPhantoms(nTrain, nVal, size, seed, window, log, prep, limit, limitText);
        if (spec.StartsWith("lits:", StringComparison.Ordinal)) return LoadLits(spec, window, log, prep, limit, limitText);
        throw new ArgumentException($"--data '{spec}': use phantom or lits:<dir>");
    }

    private static UnetData LoadPhantoms(int nTrain, int nVal, string size, ulong seed, HuWindow window, Action<string> log,
        UnetDataOptions prep, long limit, string limitText)
    {
        if (nTrain <= 0) throw new ArgumentException($"--cases must be positive, got {nTrain}");
        if (nVal <= 0) throw new ArgumentException($"--val-cases must be positive, got {nVal}");
        if (prep.MaxCases != 0) throw new ArgumentException("--max-cases applies to --data lits:<dir>; for phantoms use --cases and --val-cases");
        var s = ParseInts(size, "--size");
        if (s.Length != 3) throw new ArgumentException($"--size '{size}': give X,Y,Z");
        var po = new PhantomOptions { X = s[0], Y = s[1], Z = s[2] };
        po.Validate();
        // Phantoms keep their generator spacing (drawn per case) unless --spacing is given.
        var target = prep.Spacing is null ? null : TrainingSpacing.Parse(prep.Spacing);
        // The spacing is drawn per case while generating, so the estimate uses the middle of the ranges.
        double inPlane = (po.FovMm.Min + po.FovMm.Max) / 2 / Math.Max(po.X, po.Y); // the generator's rule: square pixels over the larger side
        var typical = po.Spacing ?? (inPlane, inPlane, (po.ZCoverageMm.Min + po.ZCoverageMm.Max) / 2 / po.Z);
        var shape = TrainingSpacing.PreparedShape((po.X, po.Y, po.Z), typical, target);
        long native = (long)po.X * po.Y * po.Z, prepared = (long)shape.X * shape.Y * shape.Z;
        long need = TrainingMemory.Estimate(Enumerable.Repeat(native, nTrain + nVal).ToList(), Enumerable.Repeat(prepared, nTrain + nVal).ToList(), [prepared]);
        if (need > limit)
            throw new ArgumentException($"--data phantom: {nTrain + nVal} phantoms of {TrainingSpacing.Format(shape)} voxels need about {TrainingMemory.Gib(need)}, over the limit of {limitText}; " +
                $"use fewer (--cases, --val-cases), a smaller --size or a coarser --spacing");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        SegmentationCase Make(PhantomCase p) => target is { } t ? Prepare(p.Index.ToString(CultureInfo.InvariantCulture), p.VolumeImage(), p.SegmentationImage(), t, window) : FromPhantom(p, window);
        // Validation phantoms come from another seed stream, so they are never training cases.
        var train = Enumerable.Range(0, nTrain).Select(i => Make(PhantomGenerator.Generate(po, seed, i))).ToList();
        var val = Enumerable.Range(0, nVal).Select(i => Make(PhantomGenerator.Generate(po, seed + 0x5EED_0000UL, 1000 + i))).ToList();
        log($"generated {nTrain} + {nVal} phantoms {s[0]}×{s[1]}×{s[2]} in {sw.Elapsed.TotalSeconds:0.0} s");
        if (target is { } tt)
        {
            var shapes = train.Concat(val).Select(c => (c.Dims[2], c.Dims[1], c.Dims[0])).Distinct().Select(TrainingSpacing.Format);
            log($"training spacing {TrainingSpacing.Format(tt)} mm (--spacing): phantoms resampled from their generator spacing to {string.Join(", ", shapes.Take(4))}{(shapes.Count() > 4 ? ", ..." : "")} voxels");
        }
        else log("training spacing: native (each phantom keeps its generator spacing)");
        return new UnetData(train, val, target);
    }

    private static UnetData LoadLits(string spec, HuWindow window, Action<string> log, UnetDataOptions prep, long limit, string limitText)
    {
        var dir = spec[5..];
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"--data {spec}: the folder {dir} does not exist");
        var found = LitsLayout.Enumerate(dir);
        var cases = prep.MaxCases > 0 ? found.Take(prep.MaxCases).ToList() : found.ToList();
        if (cases.Count < 2) throw new ArgumentException($"--data {spec}: {cases.Count} case(s) {(prep.MaxCases > 0 ? "kept by --max-cases" : "found")}; training and validation need at least 2");
        if (cases.Count < found.Count) log($"--max-cases {prep.MaxCases}: using the first {cases.Count} of the {found.Count} cases in {dir}");
        int v = Math.Max(1, cases.Count / 5);
        int nTrain = cases.Count - v;
        var headers = cases.Select(c => NiftiReader.ReadHeader(c.VolumePath)).ToList();
        (double X, double Y, double Z)? target;
        string why;
        if (prep.Spacing is null)
        {
            target = TrainingSpacing.Median(headers.Take(nTrain).Select(h => h.Spacing).ToList());
            why = $"the median of the {nTrain} training cases; --spacing X,Y,Z or native to choose";
        }
        else
        {
            target = TrainingSpacing.Parse(prep.Spacing);
            why = target is null ? "--spacing native: each case keeps its own" : "--spacing";
        }
        var shapes = headers.Select(h => TrainingSpacing.PreparedShape(h.Shape, h.Spacing, target)).ToList();
        static long Voxels((int X, int Y, int Z) s) => (long)s.X * s.Y * s.Z;
        var native = headers.Select(h => h.VoxelCount).ToList();
        var prepared = shapes.Select(Voxels).ToList();
        long need = TrainingMemory.Estimate(native, prepared, prepared.Skip(nTrain));
        log($"training spacing {(target is { } tt ? TrainingSpacing.Format(tt) + " mm" : "native")} ({why}); {cases.Count} cases need about {TrainingMemory.Gib(need)} prepared (limit {TrainingMemory.Gib(limit)})");
        if (need > limit) throw new ArgumentException(MemoryAdvice(spec, cases.Count, need, limit, limitText, native, prepared, nTrain, target));

        var all = new List<SegmentationCase>(cases.Count);
        var total = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < cases.Count; i++)
        {
            var t0 = System.Diagnostics.Stopwatch.StartNew();
            var c = cases[i];
            var sc = FromFiles(c, window, target);
            all.Add(sc);
            var h = headers[i];
            log($"case {i + 1} of {cases.Count} ({Path.GetFileName(c.VolumePath)}): {TrainingSpacing.Format(h.Shape)} at {TrainingSpacing.Format(h.Spacing)} mm" +
                (target is null ? "" : $" → {sc.Dims[2]}×{sc.Dims[1]}×{sc.Dims[0]} at {TrainingSpacing.Format((sc.Spacing[2], sc.Spacing[1], sc.Spacing[0]))} mm") +
                string.Create(CultureInfo.InvariantCulture, $", {t0.Elapsed.TotalSeconds:0.0} s ({total.Elapsed.TotalSeconds:0} s so far") +
                (i + 1 < cases.Count ? $", about {TimeSpan.FromSeconds(total.Elapsed.TotalSeconds / (i + 1) * (cases.Count - i - 1)):h\\:mm\\:ss} to go)" : ")"));
        }
        log($"read {all.Count} cases from {dir}: {nTrain} for training, {v} for validation");
        return new UnetData(all.Take(nTrain).ToList(), all.Skip(nTrain).ToList(), target);
    }

    /// <summary>The refusal: the total, the limit and two concrete fixes (how many cases fit; a spacing that fits).</summary>
    private static string MemoryAdvice(string spec, int count, long need, long limit, string limitText, List<long> native, List<long> prepared,
        int nTrain, (double X, double Y, double Z)? target)
    {
        int fit = 0;
        for (int n = count; n >= 2; n--)
        {
            int tr = n - Math.Max(1, n / 5);
            if (TrainingMemory.Estimate(native.Take(n).ToList(), prepared.Take(n).ToList(), prepared.Take(n).Skip(tr)) <= limit) { fit = n; break; }
        }
        var advice = fit >= 2 ? $"--max-cases {fit} (the first {fit} cases fit)" : "--max-cases N (not even 2 cases fit at this spacing)";
        var coarser = "";
        if (target is { } t)
        {
            // Memory scales with the voxel count: coarsen every axis by the cube root of the excess (and a margin).
            double f = Math.Ceiling(Math.Cbrt(need / (double)limit) * 1.1 * 10) / 10;
            coarser = string.Create(CultureInfo.InvariantCulture, $" or a coarser spacing (e.g. --spacing {t.X * f:0.##},{t.Y * f:0.##},{t.Z * f:0.##})");
        }
        else coarser = " or a coarser spacing (--spacing X,Y,Z in mm instead of native)";
        return $"--data {spec}: the {count} cases at training spacing {(target is { } ts ? TrainingSpacing.Format(ts) + " mm" : "native")} need about {TrainingMemory.Gib(need)} " +
               $"(images and labels {TrainingMemory.Gib(prepared.Sum() * TrainingMemory.BytesPerPreparedVoxel)}, plus loading and whole-volume validation buffers), " +
               $"over the limit of {limitText}. Use {advice}{coarser}";
    }

    private static SegmentationCase FromPhantom(PhantomCase p, HuWindow window) =>
        new(p.Index.ToString(CultureInfo.InvariantCulture), window.Apply(p.Volume), p.Labels,
            [p.Shape.Z, p.Shape.Y, p.Shape.X], [p.Spacing.Z, p.Spacing.Y, p.Spacing.X]);

    /// <summary>One LiTS case read, resampled to <paramref name="target"/> (null: kept as it is) and windowed.</summary>
    private static SegmentationCase FromFiles(Kernels.Nets.Data.Lits.LitsCase c, HuWindow window, (double X, double Y, double Z)? target = null)
    {
        var img = NiftiReader.Read(c.VolumePath);
        var seg = NiftiReader.ReadLabels(c.SegmentationPath ?? throw new ArgumentException($"case {c.Id}: no segmentation file"));
        try
        {
            if (img.Shape != seg.Shape)
                throw new ArgumentException($"shape {seg.Shape} does not match {c.VolumePath}'s {img.Shape}");
            var sc = Prepare(c.Id, img, seg, target, window);
            sc.Validate();
            return sc;
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{c.SegmentationPath}: {e.Message}");
        }
    }

    /// <summary>Resamples (image trilinear, labels nearest onto the same grid) unless the target
    /// is null or gives the same grid, then windows the image in place: callers pass images they
    /// own and drop (a file just read, a phantom just generated), so no extra copy is made.</summary>
    private static SegmentationCase Prepare(string id, NiftiImage<float> img, NiftiImage<byte> seg, (double X, double Y, double Z)? target, HuWindow window)
    {
        var dst = TrainingSpacing.PreparedShape(img.Shape, img.Spacing, target);
        if (dst != img.Shape)
        {
            img = Resampling.ToShape(img, dst);
            seg = Resampling.LabelsToShape(seg, dst);
        }
        Intensity.Window(img.Data, window.Low, window.High);
        var (x, y, z) = img.Shape;
        var (sx, sy, sz) = img.Spacing;
        return new SegmentationCase(id, img.Data, seg.Data, [z, y, x], [sz, sy, sx]);
    }

    internal static int[] ParseInts(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out r[i]) || r[i] <= 0)
                throw new ArgumentException($"{option} '{text}': expected comma-separated positive integers");
        return r;
    }
}

/// <summary>How `train unet*` prepares its cases: the --spacing text (null: the default), the
/// --max-cases cap (0: all) and the memory limit in bytes (null: 60% of what the GC reports available).</summary>
internal sealed record UnetDataOptions
{
    public string? Spacing { get; init; }
    public int MaxCases { get; init; }
    public long? MemoryLimitBytes { get; init; }
}

/// <summary>Prepared cases and the spacing they were brought to (null: native, each its own).</summary>
internal sealed record UnetData(List<SegmentationCase> Train, List<SegmentationCase> Val, (double X, double Y, double Z)? Spacing);
