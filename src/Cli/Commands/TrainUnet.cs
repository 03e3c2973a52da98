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
        var outDir = new Option<string>("--out") { Description = "Directory for checkpoint.safetensors (best), metrics.json and overlays/", DefaultValueFactory = _ => $"runs/{mode.Name()}" };
        var cmd = new Command(mode.Name(), mode switch
        {
            UNetMode.Unet3d => "Train a 3-D U-Net (Dice + cross-entropy) for liver and tumour segmentation",
            UNetMode.Unet2d => "Train a 2-D U-Net on axial slices for liver and tumour segmentation",
            _ => "Train a 2.5D U-Net (2k+1 adjacent slices as channels) for liver and tumour segmentation",
        })
        {
            data, cases, valCases, size, epochs, steps, patch, batch, width, depth, norm, down, context, lr, outDir,
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
            var (train, val) = LoadData(parse.GetValue(data)!, parse.GetValue(cases), parse.GetValue(valCases), parse.GetValue(size)!, o.Seed, window, Log);
            var result = new UNetTrainer(o, run.Device, Log).Run(train, val, parse.GetValue(outDir)!);
            foreach (var c in result.Cases)
                Log($"  case {c.Id}: liver dice {c.LiverDice:0.0000} lesion dice {c.LesionDice:0.0000}");
            Log($"wall time {result.Seconds / 60:0.0} min (process cpu {result.CpuSeconds / 60:0.0} min); wrote {Path.Combine(parse.GetValue(outDir)!, "checkpoint.safetensors")}, metrics.json, overlays/");
            cli.Out.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"final liver dice: {result.LiverDice:0.0000} lesion dice: {result.LesionDice:0.0000}"));
            return Program.ExitOk;
        });
        return cmd;
    }

    internal static (List<SegmentationCase> Train, List<SegmentationCase> Val) LoadData(string spec, int nTrain, int nVal, string size,
        ulong seed, HuWindow window, Action<string> log)
    {
        if (spec == "phantom")
        {
            if (nTrain <= 0) throw new ArgumentException($"--cases must be positive, got {nTrain}");
            if (nVal <= 0) throw new ArgumentException($"--val-cases must be positive, got {nVal}");
            var s = ParseInts(size, "--size");
            if (s.Length != 3) throw new ArgumentException($"--size '{size}': give X,Y,Z");
            var po = new PhantomOptions { X = s[0], Y = s[1], Z = s[2] };
            po.Validate();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            // Validation phantoms come from another seed stream, so they are never training cases.
            var train = Enumerable.Range(0, nTrain).Select(i => FromPhantom(PhantomGenerator.Generate(po, seed, i), window)).ToList();
            var val = Enumerable.Range(0, nVal).Select(i => FromPhantom(PhantomGenerator.Generate(po, seed + 0x5EED_0000UL, 1000 + i), window)).ToList();
            log($"generated {nTrain} + {nVal} phantoms {s[0]}×{s[1]}×{s[2]} in {sw.Elapsed.TotalSeconds:0.0} s");
            return (train, val);
        }
        if (spec.StartsWith("lits:", StringComparison.Ordinal))
        {
            var dir = spec[5..];
            if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"--data {spec}: the folder {dir} does not exist");
            var all = LitsLayout.Enumerate(dir).Select(c => FromFiles(c, window)).ToList();
            if (all.Count < 2) throw new ArgumentException($"--data {spec}: {all.Count} case(s) found; training and validation need at least 2");
            int v = Math.Max(1, all.Count / 5);
            log($"read {all.Count} cases from {dir}: {all.Count - v} for training, {v} for validation");
            return (all.Take(all.Count - v).ToList(), all.Skip(all.Count - v).ToList());
        }
        throw new ArgumentException($"--data '{spec}': use phantom or lits:<dir>");
    }

    private static SegmentationCase FromPhantom(PhantomCase p, HuWindow window) =>
        new(p.Index.ToString(CultureInfo.InvariantCulture), window.Apply(p.Volume), p.Labels,
            [p.Shape.Z, p.Shape.Y, p.Shape.X], [p.Spacing.Z, p.Spacing.Y, p.Spacing.X]);

    private static SegmentationCase FromFiles(Kernels.Nets.Data.Lits.LitsCase c, HuWindow window)
    {
        var img = NiftiReader.Read(c.VolumePath);
        var seg = NiftiReader.ReadLabels(c.SegmentationPath ?? throw new ArgumentException($"case {c.Id}: no segmentation file"));
        var (x, y, z) = img.Shape;
        var (sx, sy, sz) = img.Spacing;
        var sc = new SegmentationCase(c.Id, window.Apply(img.Data), seg.Data, [z, y, x], [sz, sy, sx]);
        try
        {
            sc.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{c.SegmentationPath}: {e.Message}");
        }
        return sc;
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
