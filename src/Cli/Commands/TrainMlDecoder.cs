using System.CommandLine;
using System.Globalization;
using Kernels.Nets.Models.MlDecoder;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels train ml-decoder`: the ML-Decoder system on the synthetic multi-label task
/// (MlDecoderTrainer). The last line printed is `final mAP: &lt;value&gt;`.</summary>
public static class TrainMlDecoder
{
    public static Command Create(CliContext cli)
    {
        var d = new MlDecoderTrainOptions();
        var data = new Option<string>("--data") { Description = "synthetic (COCO-style folders are not supported yet)", DefaultValueFactory = _ => "synthetic" };
        var classes = new Option<int>("--classes") { Description = "Number of classes N", DefaultValueFactory = _ => d.Classes };
        var backbone = new Option<string>("--backbone") { Description = "tiny-tresnet, resnet18 or resnet50", DefaultValueFactory = _ => d.Backbone };
        var head = new Option<string>("--head") { Description = "ml-decoder or gap (global average pooling baseline)", DefaultValueFactory = _ => d.Head };
        var groups = new Option<int>("--groups") { Description = "Queries K (-1: min(100, N))", DefaultValueFactory = _ => d.Groups };
        var embed = new Option<int>("--embed-dim") { Description = "Decoder width D (the paper: 768)", DefaultValueFactory = _ => d.EmbedDim };
        var ffn = new Option<int>("--feed-forward") { Description = "Decoder feed-forward width (the paper: 2048)", DefaultValueFactory = _ => d.FeedForward };
        var size = new Option<int>("--image-size") { Description = "Image side in pixels (multiple of 32)", DefaultValueFactory = _ => d.ImageSize };
        var epochs = new Option<int>("--epochs") { Description = "Epochs", DefaultValueFactory = _ => d.Epochs };
        var steps = new Option<int>("--steps-per-epoch") { Description = "Optimizer steps per epoch (fresh synthetic images each step)", DefaultValueFactory = _ => d.StepsPerEpoch };
        var batch = new Option<int>("--batch") { Description = "Images per step", DefaultValueFactory = _ => d.Batch };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (OneCycle, 20% warm-up)", DefaultValueFactory = _ => d.Lr };
        var outDir = new Option<string>("--out") { Description = "Directory for checkpoint.safetensors (best weights) and metrics.json", DefaultValueFactory = _ => "runs/ml-decoder" };
        var cmd = new Command("ml-decoder", "Train a backbone + ML-Decoder head (or the pooling baseline) with the asymmetric loss on synthetic multi-label images")
        {
            data, classes, backbone, head, groups, embed, ffn, size, epochs, steps, batch, lr, outDir,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            var source = parse.GetValue(data)!;
            if (source != "synthetic")
                throw new ArgumentException($"--data {source}: only 'synthetic' is supported so far");
            var o = new MlDecoderTrainOptions
            {
                Classes = parse.GetValue(classes), Backbone = parse.GetValue(backbone)!, Head = parse.GetValue(head)!,
                Groups = parse.GetValue(groups), EmbedDim = parse.GetValue(embed), FeedForward = parse.GetValue(ffn),
                ImageSize = parse.GetValue(size), Epochs = parse.GetValue(epochs), StepsPerEpoch = parse.GetValue(steps),
                Batch = parse.GetValue(batch), Lr = parse.GetValue(lr), Seed = run.Seed ?? 1,
            };
            o.Validate();
            var trainer = new MlDecoderTrainer(o, run.Device, line => cli.Out.MarkupLine(Markup.Escape(line)));
            var (_, best) = trainer.Run(parse.GetValue(outDir)!);
            cli.Out.MarkupLine($"final mAP: {best.ToString("0.00", CultureInfo.InvariantCulture)}");
            return Program.ExitOk;
        });
        return cmd;
    }
}
