using System.CommandLine;
using System.Globalization;
using Kernels.Nets.Models.AnatomicalAugmentation;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels train anatomical-augmentation`: PAPERS.md section 8 on phantoms. One slice
/// per lesion is labelled; the 2-D U-Net is trained without and with the ±k adjacent slices as
/// extra examples (same seed, weights and steps) and both are scored on held-out phantoms.</summary>
public static class TrainAnatomicalAugmentation
{
    public static Command Create(CliContext cli)
    {
        var d = new AnatomicalAugmentationOptions();
        var cases = new Option<int>("--cases") { Description = "Phantom cases in all (training + held out)", DefaultValueFactory = _ => 20 };
        var heldOut = new Option<int>("--held-out") { Description = "Of those, cases held out for scoring", DefaultValueFactory = _ => 6 };
        var neighbours = new Option<string>("--neighbours")
        {
            Description = "k: adjacent slices per side added with the labelled slice's mask; a list (1,2,3) also trains and scores each further k",
            DefaultValueFactory = _ => d.Neighbours.ToString(CultureInfo.InvariantCulture),
        };
        var epochs = new Option<int>("--epochs") { Description = "Epochs of the labelled slices (both runs take the same number of steps)", DefaultValueFactory = _ => d.Epochs };
        var batch = new Option<int>("--batch") { Description = "Slices per step", DefaultValueFactory = _ => d.Batch };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => d.Lr };
        var size = new Option<int>("--slice-size") { Description = "Side of the window cut around the liver (multiple of 2^depth)", DefaultValueFactory = _ => d.SliceSize };
        var width = new Option<int>("--width") { Description = "U-Net first-stage channels", DefaultValueFactory = _ => d.Width };
        var depth = new Option<int>("--depth") { Description = "U-Net halvings", DefaultValueFactory = _ => d.Depth };
        var phantomSize = new Option<string>("--phantom-size") { Description = "Phantom volume X,Y,Z", DefaultValueFactory = _ => "96,96,64" };
        var outDir = new Option<string>("--out") { Description = "Directory for checkpoint-baseline/-augmented.safetensors and metrics.json", DefaultValueFactory = _ => "runs/anatomical-augmentation" };
        var cmd = new Command("anatomical-augmentation",
            "Lesion pixel classification from one labelled slice per lesion, without and with adjacent-slice augmentation, on phantoms")
        {
            cases, heldOut, neighbours, epochs, batch, lr, size, width, depth, phantomSize, outDir,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            int n = parse.GetValue(cases), h = parse.GetValue(heldOut);
            if (h <= 0 || h >= n)
                throw new ArgumentException($"--held-out {h} with --cases {n}: hold out at least one case and keep at least one for training");
            var ks = ParseList(parse.GetValue(neighbours)!);
            var phantom = PhantomVolumes.Default;
            var sz = ParseList(parse.GetValue(phantomSize)!, "--phantom-size");
            if (sz.Count != 3) throw new ArgumentException($"--phantom-size '{parse.GetValue(phantomSize)}': give X,Y,Z");
            phantom = phantom with { X = sz[0], Y = sz[1], Z = sz[2] };
            phantom.Validate();
            var o = new AnatomicalAugmentationOptions
            {
                Neighbours = ks[0], SweepNeighbours = ks.Skip(1).ToList(), Epochs = parse.GetValue(epochs), Batch = parse.GetValue(batch),
                Lr = parse.GetValue(lr), SliceSize = parse.GetValue(size), Width = parse.GetValue(width), Depth = parse.GetValue(depth),
                Seed = run.Seed ?? 1,
            };
            o.Validate();
            void Log(string line) => cli.Out.MarkupLine(Markup.Escape(line));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            Log($"generating {n} phantom cases ({phantom.X}×{phantom.Y}×{phantom.Z}, seed {o.Seed}); the last {h} are held out");
            var volumes = PhantomVolumes.Generate(phantom, o.Seed, 0, n, Log);
            var trainer = new AnatomicalAugmentationTrainer(o, run.Device, Log);
            var r = trainer.Run(volumes[..(n - h)], volumes[(n - h)..], parse.GetValue(outDir)!);
            cli.Out.Write(Table(r));
            cli.Out.MarkupLine($"{sw.Elapsed.TotalMinutes:0.0} min in all; wrote {Markup.Escape(Path.Combine(parse.GetValue(outDir)!, "metrics.json"))} and the checkpoints");
            return Program.ExitOk;
        });
        return cmd;
    }

    private static List<int> ParseList(string text, string option = "--neighbours")
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var r = new List<int>();
        foreach (var p in parts)
        {
            if (!int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 0)
                throw new ArgumentException($"{option} '{text}': expected a non-negative integer or a comma-separated list of them");
            r.Add(v);
        }
        return r;
    }

    private static Table Table(AugmentationComparison r)
    {
        var runs = new List<AugmentationRun> { r.Baseline, r.Augmented };
        runs.AddRange(r.Sweep);
        var t = new Table().AddColumn("");
        foreach (var run in runs) t.AddColumn(new TableColumn(run == r.Baseline ? "without (k = 0)" : $"with k = {run.Neighbours}").RightAligned());
        foreach (var run in runs.Skip(1)) t.AddColumn(new TableColumn($"difference (k = {run.Neighbours})").RightAligned());
        static string P(double v) => double.IsFinite(v) ? (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%" : "n/a";
        static string D(double v) => double.IsFinite(v) ? v.ToString("0.000", CultureInfo.InvariantCulture) : "n/a";
        static string Sp(double v) => double.IsFinite(v) ? (100 * v).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + " pt" : "n/a";
        static string Sd(double v) => double.IsFinite(v) ? v.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture) : "n/a";
        void Row(string name, Func<LesionScores, double> f, Func<double, string> fmt, Func<double, string> diff)
        {
            var cells = new List<string> { name };
            cells.AddRange(runs.Select(x => fmt(f(x.Scores))));
            cells.AddRange(runs.Skip(1).Select(x => diff(f(x.Scores) - f(r.Baseline.Scores))));
            t.AddRow([.. cells.Select(Markup.Escape)]);
        }
        Row("success rate", s => s.SuccessRate, P, Sp);
        Row("pixel accuracy (liver)", s => s.PixelAccuracy, P, Sp);
        Row("mean lesion Dice", s => s.MeanLesionDice, D, Sd);
        for (int c = 0; c < PixelClass.Count; c++)
        {
            int k = c;
            Row($"Dice {PixelClass.Names[k]}", s => s.Dice[k], D, Sd);
        }
        var info = new List<string> { "training examples" };
        info.AddRange(runs.Select(x => x.TrainExamples.ToString(CultureInfo.InvariantCulture)));
        info.AddRange(runs.Skip(1).Select(_ => ""));
        t.AddRow([.. info]);
        var secs = new List<string> { "training seconds" };
        secs.AddRange(runs.Select(x => x.Seconds.ToString("0", CultureInfo.InvariantCulture)));
        secs.AddRange(runs.Skip(1).Select(_ => ""));
        t.AddRow([.. secs]);
        t.Caption($"{r.TestLesions} held-out lesions on {r.TestSlices} labelled slices of {r.TestCases} cases; {r.Baseline.Steps} steps each");
        return t;
    }
}
