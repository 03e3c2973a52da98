using System.CommandLine;
using System.Globalization;
using Kernels.Nets;
using Kernels.Nets.Imaging;
using Kernels.Nets.Models.MlDecoder;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels predict`: one image through a trained multi-label classifier; prints the
/// top classes with their sigmoid scores (class names from the checkpoint when it has them).</summary>
public static class PredictCommand
{
    public static Command Create(CliContext cli)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "checkpoint.safetensors of `kernels train ml-decoder` (or a state dict as safetensors)", Required = true };
        var image = new Option<string>("--image") { Description = "A JPEG or PNG file (squished to the checkpoint's image size, RGB in [0, 1])", Required = true };
        var top = new Option<int>("--top") { Description = "How many classes to list, highest score first", DefaultValueFactory = _ => 5 };
        var loadOptions = new CheckpointOptions();
        var cmd = new Command("predict", "Classify one image with a trained ML-Decoder (or pooling-head) checkpoint: top classes and scores")
        {
            checkpoint, image, top, loadOptions.Backbone, loadOptions.ImageSize,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            int k = parse.GetValue(top);
            if (k <= 0) throw new ArgumentException($"--top {k}: must be positive");
            var path = parse.GetValue(checkpoint)!;
            var imagePath = parse.GetValue(image)!;
            using var ck = MlDecoderCheckpoint.Load(path, Device.Cpu, loadOptions.Defaults(parse));
            int size = ck.Spec.ImageSize;
            var pixels = ImageFile.LoadSquished(imagePath, size);
            using var model = ck.BuildModel(run.Device);
            var scores = Scores(model, pixels, size, run.Device);

            var order = Enumerable.Range(0, scores.Length).OrderByDescending(c => scores[c]).ThenBy(c => c).Take(k).ToList();
            cli.Out.MarkupLine(Markup.Escape($"{imagePath} ({ck.Spec}):"));
            var table = new Table().AddColumn(new TableColumn("#").RightAligned()).AddColumn("class").AddColumn(new TableColumn("score").RightAligned());
            for (int i = 0; i < order.Count; i++)
            {
                int c = order[i];
                var name = ck.ClassNames is { } names ? $"{names[c]} ({c})" : c.ToString(CultureInfo.InvariantCulture);
                table.AddRow((i + 1).ToString(CultureInfo.InvariantCulture), Markup.Escape(name), scores[c].ToString("0.0000", CultureInfo.InvariantCulture));
            }
            cli.Out.Write(table);
            return Program.ExitOk;
        });
        return cmd;
    }

    /// <summary>Sigmoid scores [N] of one image [3, S, S].</summary>
    internal static float[] Scores(MultiLabelClassifier model, float[] pixels, int size, Device device)
    {
        model.Eval();
        using var _ = Autograd.NoGrad();
        using var scope = TensorScope.Begin();
        var x = Tensor.From<float>(pixels, [1, 3, size, size], device);
        return EvalMlDecoder.Sigmoid(model.Forward(x).ToArray<float>());
    }
}
