using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Kernels.Nets;
using Kernels.Nets.Data;
using Kernels.Nets.IO;
using Kernels.Nets.Metrics;
using Kernels.Nets.Models.MlDecoder;
using Spectre.Console;

namespace Kernels.Cli.Commands;

/// <summary>`kernels eval ml-decoder`: rebuilds the classifier from a checkpoint's metadata, runs
/// it over the data's held-out set and prints mAP and CP / CR / CF1 / OP / OR / OF1 at a
/// threshold on the sigmoid scores (plus F1@3 / F1@5); --json writes the same as JSON.</summary>
public static class EvalMlDecoder
{
    public static Command Create(CliContext cli)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "checkpoint.safetensors (or last.safetensors, or a PyTorch state dict as safetensors)", Required = true };
        var data = new Option<string>("--data") { Description = "synthetic (the training run's held-out images) or coco:<dir> (its val split)", DefaultValueFactory = _ => "synthetic" };
        var threshold = new Option<double>("--threshold") { Description = "Score threshold for CP/CR/CF1/OP/OR/OF1 (on sigmoid probabilities)", DefaultValueFactory = _ => 0.5 };
        var json = new Option<string?>("--json") { Description = "Also write the metrics to this JSON file" };
        var classes = new Option<int?>("--classes") { Description = "Synthetic data: number of classes (default: the checkpoint's)" };
        var images = new Option<int?>("--val-images") { Description = "Held-out images to evaluate (default: synthetic as many as the training run used, coco the whole val split)" };
        var loadOptions = new CheckpointOptions();
        var cmd = new Command("ml-decoder", "Evaluate an ML-Decoder (or pooling-head) checkpoint: mAP and CP/CR/CF1/OP/OR/OF1")
        {
            checkpoint, data, threshold, json, classes, images, loadOptions.Backbone, loadOptions.ImageSize,
        };
        cmd.SetAction(parse =>
        {
            var run = cli.Prepare(parse);
            double t = parse.GetValue(threshold);
            if (!(t is > 0 and < 1)) throw new ArgumentException($"--threshold {t}: use a probability strictly between 0 and 1");
            var path = parse.GetValue(checkpoint)!;
            using var ck = MlDecoderCheckpoint.Load(path, Device.Cpu, loadOptions.Defaults(parse));
            int? trainedOn = ck.Metadata.TryGetValue(MlDecoderTrainer.ValidationImagesKey, out var v) &&
                             int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int nv) && nv > 0 ? nv : null;
            var source = OpenData(parse.GetValue(data)!, parse.GetValue(classes) ?? ck.Spec.Classes, ck.Spec.ImageSize,
                parse.GetValue(images) ?? trainedOn);
            // The model is built for the data: a checkpoint with another class count is refused by tensor.
            var spec = ck.Spec with { Classes = source.Classes };
            using var model = spec.Build(run.Device);
            MlDecoderCheckpoint.LoadInto(model, ck.Tensors, path);

            var (scores, targets) = MlDecoderTrainer.ValidationScores(model, source, run.Device);
            int n = source.ValidationCount, c = source.Classes;
            var map = MultiLabelMetrics.MeanAveragePrecision(scores, targets, n, c);
            var probabilities = Sigmoid(scores);
            var report = MultiLabelMetrics.Evaluate(probabilities, targets, n, c, (float)t);
            Print(cli.Out, spec, source, map, report);
            if (parse.GetValue(json) is { Length: > 0 } jsonPath)
            {
                AtomicFile.WriteAllText(jsonPath, Json(path, spec, source, t, map, report));
                cli.Out.MarkupLine($"wrote {Markup.Escape(jsonPath)}");
            }
            return Program.ExitOk;
        });
        return cmd;
    }

    /// <summary>The data of --data without augmentation: "synthetic" (a fixed held-out set of
    /// <paramref name="validationImages"/>, 512 when null) or "coco:&lt;dir&gt;" (its val split, the
    /// first <paramref name="validationImages"/> images when given, else all).</summary>
    public static IMultiLabelData OpenData(string spec, int classes, int imageSize, int? validationImages)
    {
        if (validationImages is <= 0) throw new ArgumentException($"--val-images {validationImages}: must be positive");
        if (spec == "synthetic" && classes > SyntheticMultiLabel.MaxClasses)
            throw new ArgumentException($"--classes {classes}: the synthetic task has at most {SyntheticMultiLabel.MaxClasses} classes");
        int n = validationImages ?? (spec == "synthetic" ? new MlDecoderTrainOptions().ValidationImages : 0);
        return MultiLabelDataSource.Create(spec, classes, imageSize, n, "none");
    }

    internal static float[] Sigmoid(float[] logits)
    {
        var p = new float[logits.Length];
        for (int i = 0; i < p.Length; i++) p[i] = 1f / (1f + MathF.Exp(-logits[i]));
        return p;
    }

    private static void Print(IAnsiConsole console, MlDecoderSpec spec, IMultiLabelData source, MapResult map, MultiLabelReport r)
    {
        console.MarkupLine(Markup.Escape($"{spec} on {source.Description}: {source.ValidationCount} held-out images"));
        var table = new Table().AddColumn("metric").AddColumn(new TableColumn("value (%)").RightAligned());
        void Row(string name, double v) => table.AddRow(name, v.ToString("0.00", CultureInfo.InvariantCulture));
        Row("mAP", map.Map);
        Row($"CP@{r.Threshold.Threshold:0.##}", r.Threshold.CP);
        Row($"CR@{r.Threshold.Threshold:0.##}", r.Threshold.CR);
        Row($"CF1@{r.Threshold.Threshold:0.##}", r.Threshold.CF1);
        Row($"OP@{r.Threshold.Threshold:0.##}", r.Threshold.OP);
        Row($"OR@{r.Threshold.Threshold:0.##}", r.Threshold.OR);
        Row($"OF1@{r.Threshold.Threshold:0.##}", r.Threshold.OF1);
        Row("F1@3", r.At3.F1);
        Row("F1@5", r.At5.F1);
        console.Write(table);
        if (map.ClassesWithPositives < source.Classes)
            console.MarkupLine(Markup.Escape($"note: {source.Classes - map.ClassesWithPositives} classes have no positive in the held-out set and count as AP 0 " +
                                             $"(mAP over the others: {map.MapOverClassesWithPositives:0.00})"));
    }

    private static string Json(string checkpoint, MlDecoderSpec spec, IMultiLabelData source, double threshold, MapResult map, MultiLabelReport r)
    {
        var th = r.Threshold;
        var doc = new Dictionary<string, object?>
        {
            ["checkpoint"] = checkpoint, ["data"] = source.Description, ["model"] = spec.ToMetadata(),
            ["images"] = source.ValidationCount, ["classes"] = source.Classes, ["threshold"] = threshold,
            ["map"] = map.Map, ["map_classes_with_positives"] = Finite(map.MapOverClassesWithPositives),
            ["cp"] = th.CP, ["cr"] = th.CR, ["cf1"] = th.CF1, ["op"] = th.OP, ["or"] = th.OR, ["of1"] = th.OF1,
            ["f1_at_3"] = r.At3.F1, ["f1_at_5"] = r.At5.F1,
            ["per_class"] = Enumerable.Range(0, source.Classes).Select(c => new Dictionary<string, object>
            {
                ["class"] = source.ClassNames[c], ["ap"] = 100 * map.PerClassAp[c], ["positives"] = map.Positives[c],
            }).ToList(),
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;
}

/// <summary>What a checkpoint without metadata (a plain PyTorch state dict) cannot say itself.</summary>
internal sealed class CheckpointOptions
{
    public Option<string?> Backbone { get; } = new("--backbone") { Description = "For a state dict without metadata: tiny-tresnet, resnet18 or resnet50" };
    public Option<int?> ImageSize { get; } = new("--image-size") { Description = "For a state dict without metadata: the image side it was trained at" };

    public MlDecoderCheckpoint.Defaults Defaults(ParseResult parse) =>
        new(parse.GetValue(Backbone), parse.GetValue(ImageSize));
}
