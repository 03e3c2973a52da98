using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kernels.Nets;
using Kernels.Nets.Data;
using Kernels.Nets.IO;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using Kernels.Nets.Training;
using Spectre.Console;
using F = Kernels.Nets.Functional;

namespace Kernels.Cli.Commands;

/// <summary>`kernels train &lt;model&gt;`. `cnn`: a small conv net on the seeded synthetic-shapes
/// task, the engine's end-to-end smoke run (every layer, the loss, AdamW and OneCycle on the chosen
/// device); it reports loss, throughput and held-out accuracy and writes a resumable checkpoint.</summary>
public static class TrainCommand
{
    public static Command Create(CliContext cli)
    {
        var cmd = new Command("train", "Train a model on synthetic data (on the GPU when present: --device auto)");
        cmd.Subcommands.Add(Cnn(cli));
        cmd.Subcommands.Add(TrainMlDecoder.Create(cli));
        cmd.Subcommands.Add(TrainUnet.Create(cli, Kernels.Nets.Models.Lits.UNetMode.Unet3d));
        cmd.Subcommands.Add(TrainUnet.Create(cli, Kernels.Nets.Models.Lits.UNetMode.Unet2d));
        cmd.Subcommands.Add(TrainUnet.Create(cli, Kernels.Nets.Models.Lits.UNetMode.Unet25d));
        cmd.Subcommands.Add(TrainCascade.Create(cli));
        cmd.Subcommands.Add(TrainAnatomicalAugmentation.Create(cli));
        return cmd;
    }

    private static Command Cnn(CliContext cli)
    {
        var steps = new Option<int>("--steps") { Description = "Optimizer steps", DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch") { Description = "Images per step", DefaultValueFactory = _ => 64 };
        var size = new Option<int>("--image-size") { Description = "Image side in pixels", DefaultValueFactory = _ => 16 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate of the one-cycle schedule", DefaultValueFactory = _ => 3e-3 };
        var outDir = new Option<string>("--out") { Description = "Directory for checkpoint.safetensors and metrics.json", DefaultValueFactory = _ => "runs/cnn" };
        var cmd = new Command("cnn", "A small CNN on synthetic shapes (4 classes): the end-to-end smoke run")
        {
            steps, batch, size, lr, outDir,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            int nSteps = parse.GetValue(steps), nBatch = parse.GetValue(batch), side = parse.GetValue(size);
            if (nSteps <= 0) throw new ArgumentException($"--steps must be positive, got {nSteps}");
            if (nBatch <= 0) throw new ArgumentException($"--batch must be positive, got {nBatch}");
            if (side < 8) throw new ArgumentException($"--image-size must be at least 8, got {side}");
            double peak = parse.GetValue(lr);
            if (!(peak > 0) || double.IsInfinity(peak)) throw new ArgumentException($"--lr must be a positive number, got {peak}");
            var dir = parse.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            return RunCnn(cli.Out, run.Device, nSteps, nBatch, side, peak, dir);
        });
        return cmd;
    }

    private static int RunCnn(IAnsiConsole console, Device device, int steps, int batch, int side, double peakLr, string dir)
    {
        var data = new SyntheticShapes(side);
        // Held-out data from its own generator, so it does not depend on the training draw.
        var heldOutRng = new Rng(0xE7A1);
        using var model = new Sequential(
            new Conv2d(1, 16, 3, padding: 1), new ReLU(), new MaxPool2d(2),
            new Conv2d(16, 32, 3, padding: 1), new ReLU(), new MaxPool2d(2),
            new Conv2d(32, 64, 3, padding: 1), new ReLU(), new GlobalAvgPool(),
            new Linear(64, SyntheticShapes.Classes));
        model.To(device);
        using var opt = new AdamW(ParamGroup.DecayAndNoDecay(model, 1e-4), lr: peakLr);
        var sched = new OneCycleLR(opt, maxLr: peakLr, totalSteps: steps);
        var training = new TrainingRun(model, opt, sched);
        console.MarkupLine($"training cnn on [bold]{Markup.Escape(device.Name)}[/]: {model.Parameters().Sum(p => p.Numel):N0} parameters, " +
                           $"{steps} steps of {batch} images {side}×{side}");

        var sw = Stopwatch.StartNew();
        double firstLoss = double.NaN, lastLoss = double.NaN, windowLoss = 0;
        int window = 0, report = Math.Max(1, steps / 10);
        for (int s = 0; s < steps; s++)
        {
            using var scope = TensorScope.Begin();
            var (x, y) = data.Batch(batch, training.Rng, device);
            var loss = F.CrossEntropy(model.Forward(x), y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            sched.Step();
            training.Step++;
            double l = loss.Item();
            if (!double.IsFinite(l))
                throw new InvalidOperationException($"the loss became {l} at step {s + 1}; lower --lr (now {peakLr})");
            if (s == 0) firstLoss = l;
            lastLoss = l;
            windowLoss += l;
            window++;
            if ((s + 1) % report == 0 || s + 1 == steps)
            {
                console.MarkupLine($"step {s + 1,5}/{steps}  loss {windowLoss / window:0.0000}  " +
                                   $"{(s + 1) * (double)batch / sw.Elapsed.TotalSeconds,8:0} img/s");
                windowLoss = 0;
                window = 0;
            }
        }
        device.Synchronize();
        double seconds = sw.Elapsed.TotalSeconds;

        model.Eval();
        int correct = 0, total = 0;
        for (int b = 0; b < 8; b++)
        {
            using var scope = TensorScope.Begin();
            var (x, y) = data.Batch(128, heldOutRng, device);
            using var pred = F.ArgMax(model.Forward(x), 1);
            var p = pred.ToArray<int>();
            var t = y.ToArray<int>();
            for (int i = 0; i < p.Length; i++) correct += p[i] == t[i] ? 1 : 0;
            total += p.Length;
        }
        double accuracy = correct / (double)total;
        var checkpoint = Path.Combine(dir, "checkpoint.safetensors");
        training.Save(checkpoint, new Dictionary<string, string> { ["model"] = "cnn-synthetic-shapes", ["device"] = device.Name });
        var metrics = string.Create(CultureInfo.InvariantCulture,
            $"{{\"model\":\"cnn\",\"device\":\"{device.Name}\",\"steps\":{steps},\"batch\":{batch},\"image_size\":{side}," +
            $"\"first_loss\":{firstLoss:0.######},\"last_loss\":{lastLoss:0.######},\"held_out_accuracy\":{accuracy:0.####}," +
            $"\"seconds\":{seconds:0.###},\"images_per_second\":{steps * (double)batch / seconds:0.#}}}\n");
        var metricsPath = Path.Combine(dir, "metrics.json");
        AtomicFile.WriteAllText(metricsPath, metrics);
        console.MarkupLine($"held-out accuracy [bold]{accuracy:P1}[/] on {total} images; loss {firstLoss:0.000} → {lastLoss:0.000}; " +
                           $"{seconds:0.0} s; wrote {Markup.Escape(checkpoint)} and metrics.json");
        return Program.ExitOk;
    }
}
