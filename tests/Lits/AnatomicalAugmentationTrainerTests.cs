using System.Text.Json;
using Kernels.Nets;
using Kernels.Nets.IO;
using Kernels.Nets.Models.AnatomicalAugmentation;
using Kernels.Tests.IO;

namespace Kernels.Tests.Lits;

/// <summary>The with/without comparison end to end at a tiny size on the cpu: both runs train
/// from the same weights, are scored, and write their checkpoints and metrics.json.</summary>
public class AnatomicalAugmentationTrainerTests : TempFolderTest
{
    /// <summary>A 16×16×depth volume: a liver disc (100 HU) in air, one spherical lesion per
    /// kind given, at HU that tell the kinds apart (cyst 10, metastasis 50, hemangioma 180).</summary>
    internal static AnnotatedVolume TinyVolume(string id, int depth, params (int Kind, int X, int Y, int Z, double R)[] lesions)
    {
        const int S = 16;
        int n = S * S * depth;
        var hu = new float[n];
        var liver = new bool[n];
        var lesion = new int[n];
        float[] huOf = [100, 10, 50, 180];
        for (int z = 0; z < depth; z++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                {
                    int i = (z * S + y) * S + x;
                    bool inLiver = (x - 8) * (x - 8) + (y - 8) * (y - 8) <= 36;
                    liver[i] = inLiver;
                    hu[i] = inLiver ? huOf[0] : -1000;
                    for (int l = 0; l < lesions.Length; l++)
                    {
                        var (kind, lx, ly, lz, r) = lesions[l];
                        if ((x - lx) * (x - lx) + (y - ly) * (y - ly) + (z - lz) * (z - lz) <= r * r)
                        {
                            lesion[i] = l + 1;
                            hu[i] = huOf[kind];
                        }
                    }
                }
        return new AnnotatedVolume(id, S, S, depth, hu, liver, lesion, [.. lesions.Select(l => l.Kind)]);
    }

    private static List<AnnotatedVolume> Volumes(int first, int count) =>
        [.. Enumerable.Range(first, count).Select(i => TinyVolume($"t{i}", 6,
            (1 + i % 3, 6, 7, 2, 1.6), (1 + (i + 1) % 3, 10, 9, 3, 1.5)))];

    /// <summary>A tiny 2-D U-Net (width 4, two halvings) so the test stays fast.</summary>
    private static AnatomicalAugmentationOptions Tiny(int k, int epochs, int batch, ulong seed) =>
        new() { Neighbours = k, SliceSize = 16, Width = 4, Depth = 2, Epochs = epochs, Batch = batch, Seed = seed };

    [Test]
    public void BothRunsTrainScoreAndWriteCheckpointsAndMetrics()
    {
        var log = new List<string>();
        var t = new AnatomicalAugmentationTrainer(Tiny(1, 3, 4, 3) with { SweepNeighbours = [2] }, Device.Cpu, log.Add);
        var r = t.Run(Volumes(0, 3), Volumes(3, 2), Dir);

        Assert.That(r.Baseline.TrainExamples, Is.EqualTo(6), "two lesions per volume, each its own labelled slice");
        Assert.That(r.Augmented.TrainExamples, Is.GreaterThan(6));
        Assert.That(r.Augmented.Steps, Is.EqualTo(r.Baseline.Steps));
        Assert.That(r.Baseline.Steps, Is.EqualTo(3 * 2));
        Assert.That(double.IsFinite(r.Baseline.FirstLoss) && double.IsFinite(r.Augmented.FirstLoss));
        Assert.That(r.TestLesions, Is.EqualTo(4));
        foreach (var run in new[] { r.Baseline, r.Augmented })
        {
            Assert.That(run.Scores.Lesions, Is.EqualTo(4));
            Assert.That(run.Scores.PixelAccuracy, Is.InRange(0, 1));
            Assert.That(double.IsFinite(run.LastLoss));
            Assert.That(File.Exists(Path.Combine(Dir, $"checkpoint-{run.Name}.safetensors")));
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "metrics.json")));
        var root = doc.RootElement;
        Assert.That(root.GetProperty("baseline").GetProperty("neighbours").GetInt32(), Is.Zero);
        Assert.That(root.GetProperty("augmented").GetProperty("neighbours").GetInt32(), Is.EqualTo(1));
        Assert.That(root.GetProperty("augmented").GetProperty("lesions").GetInt32(), Is.EqualTo(4));
        // The sweep's k = 2 run: more examples than k = 1 (slices 0 and 5 join), its own checkpoint.
        Assert.That(r.Sweep.Single().TrainExamples, Is.EqualTo(18));
        Assert.That(root.GetProperty("sweep")[0].GetProperty("run").GetProperty("neighbours").GetInt32(), Is.EqualTo(2));
        Assert.That(File.Exists(Path.Combine(Dir, "checkpoint-augmented-k2.safetensors")));
        double diff = root.GetProperty("difference").GetProperty("pixel_accuracy").GetDouble();
        Assert.That(diff, Is.EqualTo(r.Augmented.Scores.PixelAccuracy - r.Baseline.Scores.PixelAccuracy).Within(1e-12));
        using var c = TrainingCheckpoint.Load(Path.Combine(Dir, "checkpoint-augmented.safetensors"));
        Assert.That(c.Extra["neighbours"], Is.EqualTo("1"));
        Assert.That(c.Step, Is.EqualTo(6));
        Assert.That(c.Model.Tensors.Keys, Has.Some.StartsWith("enc."), "the checkpoint holds the U-Net");
    }

    [Test]
    public void BothRunsStartFromTheSameWeightsAndTheSameFirstBatch()
    {
        // With k = 0 the "augmented" run is the baseline again: the same seed must give the same run.
        var r = new AnatomicalAugmentationTrainer(Tiny(0, 2, 2, 5), Device.Cpu, _ => { }).Run(Volumes(0, 2), Volumes(2, 1), null);
        Assert.That(r.Augmented.FirstLoss, Is.EqualTo(r.Baseline.FirstLoss));
        Assert.That(r.Augmented.LastLoss, Is.EqualTo(r.Baseline.LastLoss));
        Assert.That(r.Augmented.Scores.CorrectPixels, Is.EqualTo(r.Baseline.Scores.CorrectPixels));
    }

    [Test]
    public void ClassWeightsFollowInverseSquareRootFrequency()
    {
        var e = new SliceExample
        {
            VolumeId = "v", Z = 0, SourceZ = 0, Size = 2, Image = new float[4],
            Mask = [PixelClass.HealthyLiver, PixelClass.HealthyLiver, PixelClass.HealthyLiver, PixelClass.Cyst], Lesions = new int[4], Scored = [],
        };
        var e2 = new SliceExample
        {
            VolumeId = "v", Z = 1, SourceZ = 1, Size = 2, Image = new float[4],
            Mask = [PixelClass.Ignore, PixelClass.Ignore, PixelClass.HealthyLiver, PixelClass.Cyst], Lesions = new int[4], Scored = [],
        };
        var w = AnatomicalAugmentationTrainer.ClassWeights([e, e2]);
        // 6 liver pixels: healthy 4, cyst 2, others none (weight 1).
        Assert.That(w[0], Is.EqualTo((float)Math.Sqrt(6.0 / (4 * 4))).Within(1e-6));
        Assert.That(w[1], Is.EqualTo((float)Math.Sqrt(6.0 / (4 * 2))).Within(1e-6));
        Assert.That(w[2], Is.EqualTo(1f));
        Assert.That(w[3], Is.EqualTo(1f));
    }

    [Test]
    public void FlipsMirrorImagesAndMasksAlike()
    {
        int[] src = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        var dst = new int[9];
        AnatomicalAugmentationTrainer.Copy<int>(src, dst, 3, 0);
        Assert.That(dst, Is.EqualTo(src));
        AnatomicalAugmentationTrainer.Copy<int>(src, dst, 3, 1);
        Assert.That(dst, Is.EqualTo(new[] { 3, 2, 1, 6, 5, 4, 9, 8, 7 }));
        AnatomicalAugmentationTrainer.Copy<int>(src, dst, 3, 2);
        Assert.That(dst, Is.EqualTo(new[] { 7, 8, 9, 4, 5, 6, 1, 2, 3 }));
        AnatomicalAugmentationTrainer.Copy<int>(src, dst, 3, 3);
        Assert.That(dst, Is.EqualTo(new[] { 9, 8, 7, 6, 5, 4, 3, 2, 1 }));
    }

    [Test]
    public void BadOptionsAndEmptySetsAreRefused()
    {
        var t = new AnatomicalAugmentationTrainer(Tiny(-1, 1, 1, 1), Device.Cpu, _ => { });
        Assert.That(Assert.Throws<ArgumentException>(() => t.Run(Volumes(0, 1), Volumes(1, 1), null))!.Message, Does.Contain("--neighbours"));
        var ok = new AnatomicalAugmentationTrainer(Tiny(1, 1, 1, 1), Device.Cpu, _ => { });
        var odd = new AnatomicalAugmentationTrainer(Tiny(1, 1, 1, 1) with { SliceSize = 18 }, Device.Cpu, _ => { });
        Assert.That(Assert.Throws<ArgumentException>(() => odd.Run(Volumes(0, 1), Volumes(1, 1), null))!.Message, Does.Contain("multiple of 4"));
        Assert.That(Assert.Throws<ArgumentException>(() => ok.Run(Volumes(0, 1), [], null))!.Message, Does.Contain("held-out"));
        var noLesion = TinyVolume("empty", 4);
        Assert.That(Assert.Throws<ArgumentException>(() => ok.Run([noLesion], Volumes(1, 1), null))!.Message, Does.Contain("no lesion"));
    }
}
