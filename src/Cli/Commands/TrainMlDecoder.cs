using System.CommandLine;
using System.Globalization;
using Kernels.Nets;
using Kernels.Nets.Data;
using Kernels.Nets.Models.MlDecoder;
using Kernels.Nets.Training;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels train ml-decoder`: the ML-Decoder system on the synthetic multi-label task
/// or COCO-style data, optionally zero-shot (MlDecoderTrainer). It shows a live progress bar on a
/// terminal and plain lines otherwise; the last line printed is `final mAP: &lt;value&gt;`.</summary>
public static class TrainMlDecoder
{
    public static Command Create(CliContext cli)
    {
        var d = new MlDecoderTrainOptions();
        var data = new Option<string>("--data") { Description = MultiLabelDataSource.DataHelp, DefaultValueFactory = _ => "synthetic" };
        var classes = new Option<int?>("--classes") { Description = $"Number of classes N of the synthetic task (default {d.Classes}; coco: its categories)" };
        var backbone = new Option<string>("--backbone") { Description = "tiny-tresnet, resnet18 or resnet50", DefaultValueFactory = _ => d.Backbone };
        var head = new Option<string>("--head") { Description = "ml-decoder or gap (global average pooling baseline)", DefaultValueFactory = _ => d.Head };
        var groups = new Option<int>("--groups") { Description = "Queries K (-1: min(100, N))", DefaultValueFactory = _ => d.Groups };
        var embed = new Option<int>("--embed-dim") { Description = "Decoder width D (the paper: 768, on 2048-channel backbones)", DefaultValueFactory = _ => d.EmbedDim };
        var ffn = new Option<int>("--feed-forward") { Description = "Decoder feed-forward width (the paper: 2048)", DefaultValueFactory = _ => d.FeedForward };
        var size = new Option<int>("--image-size") { Description = "Image side in pixels (multiple of 32)", DefaultValueFactory = _ => d.ImageSize };
        var epochs = new Option<int>("--epochs") { Description = "Epochs", DefaultValueFactory = _ => d.Epochs };
        var steps = new Option<int>("--steps-per-epoch") { Description = "Optimizer steps per epoch (fresh synthetic images each step)", DefaultValueFactory = _ => d.StepsPerEpoch };
        var batch = new Option<int>("--batch") { Description = "Images per step", DefaultValueFactory = _ => d.Batch };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (OneCycle, 20% warm-up)", DefaultValueFactory = _ => d.Lr };
        var outDir = new Option<string>("--out")
        {
            Description = "Directory for checkpoint.safetensors (best weights), metrics.json, curves.png and last.safetensors (the resumable state)",
            DefaultValueFactory = _ => "runs/ml-decoder",
        };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last finished epoch (same options required)" };
        // Data source, augmentation and zero-shot options (h/mld-data).
        var augment = new Option<string>("--augment") { Description = MultiLabelDataSource.AugmentHelp, DefaultValueFactory = _ => "auto" };
        var valImages = new Option<int>("--val-images")
        {
            Description = "Held-out images: synthetic, how many (default 512); coco, the first this many val images (0: all)",
            DefaultValueFactory = _ => -1,
        };
        var zeroShot = new Option<bool>("--zero-shot") { Description = "Zero-shot mode: word-vector queries, train on seen classes, report ZSL and GZSL mAP / F1@3 / F1@5" };
        var wordVectors = new Option<string?>("--word-vectors")
        {
            Description = "Word-vector file (`word v1 ... vE` lines; class names with '_' for spaces), or 'synthetic' (attribute vectors for --data synthetic)",
        };
        var unseen = new Option<string?>("--unseen") { Description = "File of unseen class names, one a line (synthetic default: every fifth class)" };
        var randomTokens = new Option<int>("--random-tokens") { Description = "Zero-shot query augmentation: extra random word-vector queries per step (negatives)", DefaultValueFactory = _ => 0 };
        var queryNoise = new Option<double>("--query-noise") { Description = "Zero-shot query augmentation: std of Gaussian noise on the word vectors", DefaultValueFactory = _ => 0 };
        var cmd = new Command("ml-decoder", "Train a backbone + ML-Decoder head (or the pooling baseline) with the asymmetric loss on synthetic or COCO-style multi-label images")
        {
            data, classes, backbone, head, groups, embed, ffn, size, epochs, steps, batch, lr, outDir, resume,
            augment, valImages, zeroShot, wordVectors, unseen, randomTokens, queryNoise,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            var source = parse.GetValue(data)!;
            var o = new MlDecoderTrainOptions
            {
                Classes = parse.GetValue(classes) ?? d.Classes, Backbone = parse.GetValue(backbone)!, Head = parse.GetValue(head)!,
                Groups = parse.GetValue(groups), EmbedDim = parse.GetValue(embed), FeedForward = parse.GetValue(ffn),
                ImageSize = parse.GetValue(size), Epochs = parse.GetValue(epochs), StepsPerEpoch = parse.GetValue(steps),
                Batch = parse.GetValue(batch), Lr = parse.GetValue(lr), Seed = run.Seed ?? 1,
            };
            if (parse.GetValue(valImages) is int vi and >= 0) o = o with { ValidationImages = vi };
            o.Validate();
            var dataSource = MultiLabelDataSource.Create(source, o.Classes, o.ImageSize,
                parse.GetValue(valImages) < 0 && source != "synthetic" ? 0 : o.ValidationImages, parse.GetValue(augment)!);
            if (source != "synthetic" && parse.GetValue(classes) is { } n && n != dataSource.Classes)
                throw new ArgumentException($"--classes {n}: {source} has {dataSource.Classes} categories (leave --classes out for COCO-style data)");
            if (parse.GetValue(zeroShot))
            {
                var vectors = parse.GetValue(wordVectors) ?? throw new ArgumentException("--zero-shot needs --word-vectors FILE (or 'synthetic' with --data synthetic)");
                var aug = new ZeroShotAugmentation { RandomTokens = parse.GetValue(randomTokens), WordVectorNoiseStd = parse.GetValue(queryNoise) };
                o = o with { ZeroShot = ZeroShotTraining.FromOptions(vectors, parse.GetValue(unseen), dataSource, aug, parse.GetValue(outDir)) };
            }
            else if (parse.GetValue(wordVectors) is not null || parse.GetValue(unseen) is not null)
                throw new ArgumentException("--word-vectors and --unseen belong to --zero-shot");
            return Train(cli, o, run.Device, parse.GetValue(outDir)!, parse.GetValue(resume), dataSource);
        });
        return cmd;
    }

    private static int Train(CliContext cli, MlDecoderTrainOptions o, Device device, string outDir, bool resume, IMultiLabelData dataSource)
    {
        // Ctrl+C stops after the current step; last.safetensors keeps the last finished epoch.
        // A second Ctrl+C ends the process at once.
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (stop.IsCancellationRequested) return;
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            (IReadOnlyList<MlDecoderEpoch> Epochs, double BestMap) result;
            if (UseLiveBar(cli.Out))
            {
                result = default;
                cli.Out.Progress()
                    .AutoClear(true)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
                    .Start(ctx =>
                    {
                        var bar = new BarProgress(ctx, cli.Out);
                        result = new MlDecoderTrainer(o, device, bar.Line, dataSource) { Progress = bar, Resume = resume }.Run(outDir, stop.Token);
                    });
            }
            else
            {
                void Line(string text) => cli.Out.MarkupLine(Markup.Escape(text));
                result = new MlDecoderTrainer(o, device, Line, dataSource) { Resume = resume }.Run(outDir, stop.Token);
            }
            if (stop.IsCancellationRequested) return Program.ExitFailed;
            cli.Out.MarkupLine($"final mAP: {result.BestMap.ToString("0.00", CultureInfo.InvariantCulture)}");
            return Program.ExitOk;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>A live bar only on a terminal; logs and pipes get plain periodic lines.</summary>
    private static bool UseLiveBar(IAnsiConsole console) =>
        console.Profile.Capabilities is { Interactive: true, Ansi: true } && !Console.IsOutputRedirected;

    /// <summary>One Spectre progress task over all steps of the run; its description carries
    /// epoch, step, loss, images/s and ETA. Lines print above the bar.</summary>
    private sealed class BarProgress(ProgressContext ctx, IAnsiConsole console) : ITrainingProgress
    {
        private ProgressTask? _task;

        public void Step(in TrainingStep step)
        {
            _task ??= ctx.AddTask("training", maxValue: step.Total);
            _task.Value = step.Done;
            _task.Description = Markup.Escape(step.ToString());
            ctx.Refresh();
        }

        public void Line(string text) => console.MarkupLine(Markup.Escape(text));
    }
}
