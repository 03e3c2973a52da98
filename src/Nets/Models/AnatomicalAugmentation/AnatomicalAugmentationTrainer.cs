using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kernels.Nets.IO;
using Kernels.Nets.Models.Lits;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using Kernels.Nets.Training;

namespace Kernels.Nets.Models.AnatomicalAugmentation;

/// <summary>PAPERS.md section 8: trains a 2-D pixel classifier (healthy liver / cyst / metastasis
/// / hemangioma; outside the liver ignored) on sparsely annotated volumes twice — on the labelled
/// slices only, and with the ±k adjacent slices as extra examples carrying the labelled slice's
/// mask — from the same initial weights, with the same seed and number of steps, and scores both
/// on the held-out volumes' labelled slices against their true masks.</summary>
public sealed class AnatomicalAugmentationTrainer(AnatomicalAugmentationOptions options, Device device,
    Func<Device, Module> buildModel, Action<string> log)
{
    /// <summary>The comparison with the 2-D U-Net of <see cref="UNet2d"/>.</summary>
    public AnatomicalAugmentationTrainer(AnatomicalAugmentationOptions options, Device device, Action<string> log)
        : this(options, device, d => UNet2d(options, d), log)
    {
    }

    /// <summary>The pixel classifier: the Lits 2-D U-Net (instance norm, LeakyReLU, strided
    /// downsampling) on one HU-windowed slice, four classes.</summary>
    public static UNet UNet2d(AnatomicalAugmentationOptions o, Device? device = null) => new(new UNetConfig
    {
        Dims = 2, InChannels = 1, Classes = PixelClass.Count, BaseWidth = o.Width, Depth = o.Depth, MaxWidth = 256,
    }, device);

    /// <summary>Runs both trainings; writes checkpoint-baseline.safetensors,
    /// checkpoint-augmented.safetensors and metrics.json (each through a temporary file) to
    /// <paramref name="outDir"/> when it is given.</summary>
    public AugmentationComparison Run(IReadOnlyList<AnnotatedVolume> train, IReadOnlyList<AnnotatedVolume> test, string? outDir)
    {
        options.Validate();
        if (train.Count == 0) throw new ArgumentException("no training volumes: use more --cases");
        if (test.Count == 0) throw new ArgumentException("no held-out volumes: use more --cases");
        if (outDir is not null) Directory.CreateDirectory(outDir);

        var baseSet = Examples(train, 0);
        var augSet = Examples(train, options.Neighbours);
        var testSet = Examples(test, 0);
        if (baseSet.Count == 0) throw new ArgumentException("the training volumes hold no lesion, so no slice is labelled");
        int testLesions = testSet.Sum(e => e.Scored.Count);
        int steps = options.Epochs * ((baseSet.Count + options.Batch - 1) / options.Batch);
        var weights = options.ClassWeights ? ClassWeights(baseSet) : null;
        log($"anatomical augmentation on {device.Name}: {train.Count} training / {test.Count} held-out volumes, " +
            $"{baseSet.Count} labelled training slices ({augSet.Count} with ±{options.Neighbours} neighbours), " +
            $"{testSet.Count} held-out slices with {testLesions} lesions; {steps} steps of {options.Batch}, {options.SliceSize}×{options.SliceSize}" +
            (weights is null ? "" : $"; class weights {string.Join(" ", weights.Select(w => w.ToString("0.00", CultureInfo.InvariantCulture)))}"));

        var baseline = TrainOne("baseline", 0, baseSet, baseSet.Count, steps, weights, testSet, outDir);
        var augmented = TrainOne("augmented", options.Neighbours, augSet, baseSet.Count, steps, weights, testSet, outDir);
        var sweep = new List<AugmentationRun>();
        foreach (int k in options.SweepNeighbours)
            sweep.Add(TrainOne($"augmented-k{k}", k, Examples(train, k), baseSet.Count, steps, weights, testSet, outDir));
        var result = new AugmentationComparison(baseline, augmented, sweep, train.Count, test.Count, testSet.Count, testLesions);
        if (outDir is not null) AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.json"), MetricsJson(result));
        return result;
    }

    private List<SliceExample> Examples(IReadOnlyList<AnnotatedVolume> volumes, int k)
    {
        var all = new List<SliceExample>();
        foreach (var v in volumes)
            all.AddRange(SparseAnnotation.Build(v, k, SparseAnnotation.CentreOnLiver(v, options.SliceSize), options.WindowLow, options.WindowHigh));
        return all;
    }

    /// <summary>(N / (C·n_c))^½ from the masks' class counts, 1 for a class never seen.</summary>
    public static float[] ClassWeights(IReadOnlyList<SliceExample> examples)
    {
        var count = new long[PixelClass.Count];
        foreach (var e in examples)
            foreach (int c in e.Mask)
                if (c != PixelClass.Ignore) count[c]++;
        long total = count.Sum();
        return [.. count.Select(n => n == 0 ? 1f : (float)Math.Sqrt(total / (PixelClass.Count * (double)n)))];
    }

    private AugmentationRun TrainOne(string name, int k, List<SliceExample> set, int labelled, int steps, float[]? weights,
        List<SliceExample> testSet, string? outDir)
    {
        // Same seed, same initial weights, same stream of random draws for both runs.
        Rng.Seed(options.Seed);
        var rng = new Rng(options.Seed * 0x9E3779B97F4A7C15UL + 7);
        using var model = buildModel(device);
        model.To(device);
        using var opt = new Adam(model.Parameters(), lr: options.Lr);
        var run = new TrainingRun(model, opt, rng: rng);
        using var w = weights is null ? null : Tensor.FromArray(weights, new Shape(weights.Length), device);
        int s2 = options.SliceSize * options.SliceSize, b = options.Batch;
        var xs = new float[b * s2];
        var ys = new int[b * s2];
        log($"{name}: {set.Count} examples (k = {k}), {model.ParameterCount():N0} parameters");
        var sw = Stopwatch.StartNew();
        double first = double.NaN, last = double.NaN, window = 0;
        int inWindow = 0, report = Math.Max(1, steps / 10);
        model.Train();
        for (int s = 0; s < steps; s++)
        {
            for (int i = 0; i < b; i++)
            {
                var e = set[rng.NextInt(set.Count)];
                int flip = options.Flips ? rng.NextInt(4) : 0;
                Copy<float>(e.Image, xs.AsSpan(i * s2, s2), options.SliceSize, flip);
                Copy<int>(e.Mask, ys.AsSpan(i * s2, s2), options.SliceSize, flip);
            }
            using var scope = TensorScope.Begin();
            var x = Tensor.FromArray(xs, new Shape(b, 1, options.SliceSize, options.SliceSize), device);
            var y = Tensor.FromArray(ys, new Shape(b, options.SliceSize, options.SliceSize), device);
            var loss = Functional.CrossEntropy(model.Forward(x), y, weight: w, ignoreIndex: PixelClass.Ignore);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            run.Step++;
            double l = loss.Item();
            if (!double.IsFinite(l))
                throw new InvalidOperationException($"{name}: the loss became {l} at step {s + 1}; lower --lr (now {options.Lr})");
            if (s == 0) first = l;
            last = l;
            window += l;
            inWindow++;
            if ((s + 1) % report == 0 || s + 1 == steps)
            {
                log($"  {name} step {s + 1,4}/{steps}  loss {window / inWindow:0.0000}  {(s + 1) * (double)b / sw.Elapsed.TotalSeconds:0.0} slices/s");
                window = 0;
                inWindow = 0;
            }
        }
        device.Synchronize();
        double seconds = sw.Elapsed.TotalSeconds;
        var scores = Evaluate(model, testSet);
        log($"{name}: success rate {scores.SuccessRate:P1}, pixel accuracy {scores.PixelAccuracy:P1}, mean lesion Dice {scores.MeanLesionDice:0.000}, {seconds:0} s");
        if (outDir is not null)
        {
            var c = CultureInfo.InvariantCulture;
            run.Save(Path.Combine(outDir, $"checkpoint-{name}.safetensors"), new Dictionary<string, string>
            {
                ["model"] = "anatomical-augmentation-unet2d", ["run"] = name, ["neighbours"] = k.ToString(c),
                ["slice_size"] = options.SliceSize.ToString(c), ["classes"] = string.Join(",", PixelClass.Names),
                ["window"] = $"{options.WindowLow.ToString(c)},{options.WindowHigh.ToString(c)}",
                ["width"] = options.Width.ToString(c), ["depth"] = options.Depth.ToString(c),
            });
        }
        return new AugmentationRun(name, k, set.Count, labelled, steps, first, last, seconds, scores);
    }

    /// <summary>Scores a model on slices with true masks (argmax of the logits per pixel).</summary>
    public LesionScores Evaluate(Module model, IReadOnlyList<SliceExample> slices)
    {
        model.Eval();
        var metrics = new LesionMetrics();
        int s2 = options.SliceSize * options.SliceSize, chunk = Math.Max(1, options.Batch);
        using (Autograd.NoGrad())
            for (int i = 0; i < slices.Count; i += chunk)
            {
                int n = Math.Min(chunk, slices.Count - i);
                var xs = new float[n * s2];
                for (int j = 0; j < n; j++) slices[i + j].Image.CopyTo(xs, j * s2);
                using var scope = TensorScope.Begin();
                var x = Tensor.FromArray(xs, new Shape(n, 1, options.SliceSize, options.SliceSize), device);
                var pred = Functional.ArgMax(model.Forward(x), 1).ToArray<int>();
                for (int j = 0; j < n; j++) metrics.Add(pred.AsSpan(j * s2, s2), slices[i + j]);
            }
        model.Train();
        return metrics.Result();
    }

    /// <summary>Copies a size×size image, flipped: bit 0 left–right, bit 1 up–down.</summary>
    internal static void Copy<T>(ReadOnlySpan<T> src, Span<T> dst, int size, int flip)
    {
        for (int y = 0; y < size; y++)
        {
            int sy = (flip & 2) != 0 ? size - 1 - y : y;
            var row = src.Slice(sy * size, size);
            var outRow = dst.Slice(y * size, size);
            if ((flip & 1) == 0) row.CopyTo(outRow);
            else
                for (int x = 0; x < size; x++) outRow[x] = row[size - 1 - x];
        }
    }

    public static string MetricsJson(AugmentationComparison r)
    {
        var sb = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        static string N(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "null";
        void Run(AugmentationRun a)
        {
            var s = a.Scores;
            sb.Append(c, $"{{\"neighbours\":{a.Neighbours},\"train_examples\":{a.TrainExamples},\"labelled_slices\":{a.LabelledSlices},\"steps\":{a.Steps},");
            sb.Append(c, $"\"first_loss\":{N(a.FirstLoss)},\"last_loss\":{N(a.LastLoss)},\"seconds\":{N(a.Seconds)},");
            sb.Append(c, $"\"success_rate\":{N(s.SuccessRate)},\"lesions\":{s.Lesions},\"correct_lesions\":{s.CorrectLesions},");
            sb.Append(c, $"\"pixel_accuracy\":{N(s.PixelAccuracy)},\"liver_pixels\":{s.LiverPixels},\"mean_lesion_dice\":{N(s.MeanLesionDice)},\"dice\":{{");
            for (int k = 0; k < PixelClass.Count; k++)
                sb.Append(c, $"{(k > 0 ? "," : "")}\"{PixelClass.Names[k].Replace(' ', '_')}\":{N(s.Dice[k])}");
            sb.Append("},\"success_per_kind\":{");
            for (int k = 1; k < PixelClass.Count; k++)
                sb.Append(c, $"{(k > 1 ? "," : "")}\"{PixelClass.Names[k]}\":[{s.CorrectPerKind[k]},{s.LesionsPerKind[k]}]");
            sb.Append("}}");
        }
        sb.Append(c, $"{{\"train_cases\":{r.TrainCases},\"test_cases\":{r.TestCases},\"test_slices\":{r.TestSlices},\"test_lesions\":{r.TestLesions},\"baseline\":");
        Run(r.Baseline);
        sb.Append(",\"augmented\":");
        Run(r.Augmented);
        void Difference(LesionScores a)
        {
            var b = r.Baseline.Scores;
            sb.Append(c, $"{{\"success_rate\":{N(a.SuccessRate - b.SuccessRate)},\"pixel_accuracy\":{N(a.PixelAccuracy - b.PixelAccuracy)},\"mean_lesion_dice\":{N(a.MeanLesionDice - b.MeanLesionDice)}}}");
        }
        sb.Append(",\"difference\":");
        Difference(r.Augmented.Scores);
        sb.Append(",\"sweep\":[");
        for (int i = 0; i < r.Sweep.Count; i++)
        {
            sb.Append(i > 0 ? ",{\"run\":" : "{\"run\":");
            Run(r.Sweep[i]);
            sb.Append(",\"difference\":");
            Difference(r.Sweep[i].Scores);
            sb.Append('}');
        }
        sb.Append("]}\n");
        return sb.ToString();
    }
}
