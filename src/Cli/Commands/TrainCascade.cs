using System.CommandLine;
using System.Globalization;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Models.Lits;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels train cascade`: the LiTS cascade (stage 1 a liver U-Net on downsampled
/// volumes, stage 2 a liver/tumour U-Net inside the liver's box) on phantoms generated in memory
/// (default) or a LiTS-layout folder (CascadeTrainer). Stage options default per model (unet3d,
/// unet2d, unet25d). The last line printed is `final liver dice: X lesion dice: Y` (the best
/// stage-2 epoch's whole-cascade validation means).</summary>
public static class TrainCascade
{
    public static Command Create(CliContext cli)
    {
        var data = new Option<string>("--data") { Description = "phantom (generated in memory) or lits:<dir> (volume-N.nii[.gz] + segmentation-N.nii[.gz])", DefaultValueFactory = _ => "phantom" };
        var cases = new Option<int>("--cases") { Description = "Phantom training cases", DefaultValueFactory = _ => 40 };
        var valCases = new Option<int>("--val-cases") { Description = "Held-out phantom cases (lits: the last fifth of the cases)", DefaultValueFactory = _ => 4 };
        var size = new Option<string>("--size") { Description = "Phantom size X,Y,Z in voxels", DefaultValueFactory = _ => "96,96,48" };
        var spacing = new Option<string?>("--spacing")
        {
            Description = "Voxel spacing X,Y,Z in mm every case is resampled to (as train unet3d; `kernels segment` resamples to it), or native to keep each case's own",
        };
        var downsample = new Option<int>("--downsample") { Description = "Stage 1 (liver) sees the volume downsampled by this factor per axis (1 = full resolution)", DefaultValueFactory = _ => 2 };
        var liverModel = new Option<string>("--liver-model") { Description = "Stage 1 network: unet3d, unet2d or unet25d", DefaultValueFactory = _ => "unet3d" };
        var tumourModel = new Option<string>("--tumour-model") { Description = "Stage 2 network: unet3d, unet2d or unet25d", DefaultValueFactory = _ => "unet3d" };
        var liverEpochs = new Option<int?>("--liver-epochs") { Description = "Stage 1 epochs (default 5)" };
        var liverSteps = new Option<int?>("--liver-steps") { Description = "Stage 1 optimizer steps per epoch (default 60)" };
        var liverPatch = new Option<string?>("--liver-patch") { Description = "Stage 1 patch on the downsampled volume: D,H,W (unet3d, default 24,48,48) or H,W (default 48,48)" };
        var liverBatch = new Option<int?>("--liver-batch") { Description = "Stage 1 patches per step (default 2 for unet3d, 8 for the slice models)" };
        var tumourEpochs = new Option<int?>("--tumour-epochs") { Description = "Stage 2 epochs, the whole cascade validated after each (default 12)" };
        var tumourSteps = new Option<int?>("--tumour-steps") { Description = "Stage 2 optimizer steps per epoch (default 150 for unet3d, 100 for the slice models)" };
        var tumourPatch = new Option<string?>("--tumour-patch") { Description = "Stage 2 patch: D,H,W (unet3d, default 32,48,48) or H,W (default 64,64)" };
        var tumourBatch = new Option<int?>("--tumour-batch") { Description = "Stage 2 patches per step (default 2 for unet3d, 8 for the slice models)" };
        var width = new Option<int?>("--width") { Description = "Channels of the first stage of both U-Nets (default 8 for unet3d, 16 for the slice models)" };
        var depth = new Option<int?>("--depth") { Description = "Halvings of both U-Nets (default 3 for unet3d, 4 for the slice models)" };
        var context = new Option<int>("--context") { Description = "unet25d: slices on each side (2k+1 channels), both stages", DefaultValueFactory = _ => 1 };
        var margin = new Option<string>("--margin") { Description = "Voxels added to each face of the liver box, D,H,W", DefaultValueFactory = _ => string.Join(',', new CascadeTrainOptions().Margin) };
        var jitter = new Option<string>("--jitter") { Description = "Training only: each face of the box moves by up to this many voxels (D,H,W; 0 allowed)", DefaultValueFactory = _ => string.Join(',', new CascadeTrainOptions().Jitter) };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate of both stages (AdamW, cosine decay)", DefaultValueFactory = _ => new UNetTrainOptions().Lr };
        var outDir = new Option<string>("--out") { Description = "Directory for checkpoint.safetensors (best), metrics.json, curves.png and overlays/", DefaultValueFactory = _ => "runs/cascade" };
        var cmd = new Command("cascade", "Train the LiTS cascade: a liver U-Net on downsampled volumes, then a liver/tumour U-Net inside the liver's box")
        {
            data, cases, valCases, size, spacing, downsample, liverModel, tumourModel, liverEpochs, liverSteps, liverPatch, liverBatch,
            tumourEpochs, tumourSteps, tumourPatch, tumourBatch, width, depth, context, margin, jitter, lr, outDir,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            var window = new HuWindow();
            UNetTrainOptions Stage(UNetTrainOptions d, Option<int?> epochs, Option<int?> steps, Option<string?> patch, Option<int?> batch, string name) => d with
            {
                Epochs = parse.GetValue(epochs) ?? d.Epochs,
                StepsPerEpoch = parse.GetValue(steps) ?? d.StepsPerEpoch,
                Patch = parse.GetValue(patch) is { } p ? TrainUnet.ParseInts(p, $"--{name}-patch") : d.Patch,
                Batch = parse.GetValue(batch) ?? d.Batch,
                BaseWidth = parse.GetValue(width) ?? d.BaseWidth,
                Depth = parse.GetValue(depth) ?? d.Depth,
                Context = d.Mode == UNetMode.Unet25d ? parse.GetValue(context) : 0,
                Lr = parse.GetValue(lr),
            };
            var o = new CascadeTrainOptions
            {
                Liver = Stage(CascadeTrainOptions.DefaultLiver(Mode(parse.GetValue(liverModel)!, "--liver-model")), liverEpochs, liverSteps, liverPatch, liverBatch, "liver"),
                Tumour = Stage(CascadeTrainOptions.DefaultTumour(Mode(parse.GetValue(tumourModel)!, "--tumour-model")), tumourEpochs, tumourSteps, tumourPatch, tumourBatch, "tumour"),
                Downsample = parse.GetValue(downsample),
                Margin = Sizes(parse.GetValue(margin)!, "--margin"),
                Jitter = Sizes(parse.GetValue(jitter)!, "--jitter"),
                Seed = run.Seed ?? 1,
                Metadata = window.ToMetadata(),
            };
            o.Validate();
            void Log(string line) => cli.Out.MarkupLine(Markup.Escape(line));
            var loaded = TrainUnet.Load(parse.GetValue(data)!, parse.GetValue(cases), parse.GetValue(valCases), parse.GetValue(size)!, o.Seed, window, Log,
                new UnetDataOptions { Spacing = parse.GetValue(spacing) });
            var (train, val) = (loaded.Train, loaded.Val);
            // As train unet3d: `kernels segment` brings an input to the spacing the cascade was trained at.
            o = o with { Metadata = new Dictionary<string, string>(o.Metadata) { [TrainingSpacing.MetadataKey] = TrainingSpacing.ToText(loaded.Spacing) } };
            var dir = parse.GetValue(outDir)!;
            var result = new CascadeTrainer(o, run.Device, Log).Run(train, val, dir);
            foreach (var c in result.Cases)
                Log($"  case {c.Id}: liver dice {c.LiverDice:0.0000} lesion dice {c.LesionDice:0.0000}");
            Log($"best stage-2 epoch {result.BestEpoch}; wall time {result.Seconds / 60:0.0} min (process cpu {result.CpuSeconds / 60:0.0} min); wrote {Path.Combine(dir, "checkpoint.safetensors")}, metrics.json, curves.png, overlays/");
            cli.Out.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"final liver dice: {result.LiverDice:0.0000} lesion dice: {result.LesionDice:0.0000}"));
            return Program.ExitOk;
        });
        return cmd;
    }

    private static UNetMode Mode(string text, string option) => text switch
    {
        "unet3d" => UNetMode.Unet3d,
        "unet2d" => UNetMode.Unet2d,
        "unet25d" => UNetMode.Unet25d,
        _ => throw new ArgumentException($"{option} '{text}': use unet3d, unet2d or unet25d"),
    };

    /// <summary>Three sizes D,H,W, each 0 or more.</summary>
    private static int[] Sizes(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out r[i]) || r[i] < 0)
                throw new ArgumentException($"{option} '{text}': expected three comma-separated integers D,H,W, each 0 or more");
        if (r.Length != 3) throw new ArgumentException($"{option} '{text}': expected three sizes D,H,W");
        return r;
    }
}
