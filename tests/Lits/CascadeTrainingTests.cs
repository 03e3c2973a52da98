using Kernels.Tests.Support;
using System.Text.Json;
using Kernels.Nets;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Data.Nifti;
using Kernels.Nets.IO;
using Kernels.Nets.Models.Lits;

namespace Kernels.Tests.Lits;

/// <summary>`kernels train cascade` (CascadeTrainer) and the tumour stage's box-with-jitter sampling.</summary>
public class CascadeTrainingTests : TempDirTest
{
    /// <summary>A tiny cascade run on 32×32×16 phantoms: 2 + 1 cases, a few steps of tiny nets.</summary>
    private static readonly string[] Tiny =
    [
        "train", "cascade", "--device", "cpu", "--seed", "3", "--cases", "2", "--val-cases", "1", "--size", "32,32,16",
        "--liver-epochs", "1", "--liver-steps", "2", "--tumour-epochs", "2", "--tumour-steps", "2", "--width", "2", "--depth", "1",
        "--liver-patch", "8,16,16", "--tumour-patch", "8,16,16", "--margin", "1,2,2", "--jitter", "1,2,2",
    ];

    [Test]
    public void TinyRunWritesACheckpointThatSegmentLoads()
    {
        var outDir = Path.Combine(Dir, "run");
        var (code, stdout, err) = Support.CliRun.Run([.. Tiny, "--out", outDir]);
        Assert.That(code, Is.EqualTo(0), stdout + err);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[^1], Does.Match(@"^final liver dice: \d\.\d{4} lesion dice: \d\.\d{4}$"));
        Assert.That(stdout, Does.Contain("liver epoch 1/1 step").And.Contain("tumour epoch 2/2 step").And.Contain("voxels/s"));

        // Checkpoint: both nets and the metadata LoadedSegmenter needs.
        var ck = Path.Combine(outDir, "checkpoint.safetensors");
        using (var c = TrainingCheckpoint.Load(ck, Device.Cpu))
        {
            var m = c.Extra;
            Assert.That(m["model"], Is.EqualTo("cascade"));
            Assert.That(m["liver.model"], Is.EqualTo("unet3d"));
            Assert.That(m["tumour.model"], Is.EqualTo("unet3d"));
            Assert.That(m["liver.unet.classes"], Is.EqualTo("2"));
            Assert.That(m["tumour.unet.classes"], Is.EqualTo("3"));
            Assert.That(m["liver.patch"], Is.EqualTo("8,16,16"));
            Assert.That(m["liver.downsample"], Is.EqualTo("2"));
            Assert.That(m["margin"], Is.EqualTo("1,2,2"));
            Assert.That(m["jitter"], Is.EqualTo("1,2,2"));
            Assert.That(m[TrainingSpacing.MetadataKey], Is.EqualTo(TrainingSpacing.Native), "phantoms keep their own spacing, as in train unet3d");
            Assert.That(m.ContainsKey("window_low") && m.ContainsKey("window_high"), Is.True);
            Assert.That(c.Model.Tensors.Keys.Any(k => k.StartsWith("liver.", StringComparison.Ordinal)), Is.True);
            Assert.That(c.Model.Tensors.Keys.Any(k => k.StartsWith("tumour.", StringComparison.Ordinal)), Is.True);
        }
        Assert.That(Directory.GetFiles(outDir, "*.tmp*"), Is.Empty, "the checkpoint is written atomically");

        // metrics.json: per stage, per epoch loss; the final scores equal the last printed line's.
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json"))))
        {
            var root = doc.RootElement;
            Assert.That(root.GetProperty("liver_stage").GetProperty("epochs").GetArrayLength(), Is.EqualTo(1));
            var tumour = root.GetProperty("tumour_stage").GetProperty("epochs");
            Assert.That(tumour.GetArrayLength(), Is.EqualTo(2));
            Assert.That(tumour[1].GetProperty("loss").GetDouble(), Is.GreaterThan(0));
            var final = root.GetProperty("final");
            Assert.That(lines[^1], Does.Contain($"liver dice: {final.GetProperty("liver_dice").GetDouble().ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture)}"));
            Assert.That(final.GetProperty("cases").GetArrayLength(), Is.EqualTo(1));
        }
        Assert.That(File.Exists(Path.Combine(outDir, "curves.png")), Is.True);
        Assert.That(Directory.GetFiles(Path.Combine(outDir, "overlays"), "*.png"), Has.Length.EqualTo(1));

        // `kernels segment` with that checkpoint on a phantom from `kernels phantom`: same shape, spacing, affine.
        var phantoms = Path.Combine(Dir, "phantoms");
        Assert.That(Support.CliRun.Run("phantom", "--out", phantoms, "--cases", "1", "--seed", "11", "--size", "24,20,10").Code, Is.EqualTo(0));
        var input = Path.Combine(phantoms, "volume-0.nii");
        var output = Path.Combine(Dir, "seg.nii.gz");
        var (sc, so, se) = Support.CliRun.Run("segment", "--device", "cpu", "--checkpoint", ck, "--volume", input, "--out", output);
        Assert.That(sc, Is.EqualTo(0), so + se);
        Assert.That(so, Does.Contain("cascade"));
        var a = NiftiReader.Read(input);
        var b = NiftiReader.ReadLabels(output);
        Assert.That(b.Shape, Is.EqualTo(a.Shape));
        Assert.That(b.Spacing, Is.EqualTo(a.Spacing));
        Assert.That(b.Affine, Is.EqualTo(a.Affine));
        Assert.That(b.Data.All(v => v <= 2), Is.True);
    }

    [TestCase("--downsample", "0", "--downsample must be at least 1")]
    [TestCase("--margin", "1,2", "--margin")]
    [TestCase("--jitter", "1,-2,2", "--jitter")]
    [TestCase("--liver-model", "unet4d", "--liver-model")]
    [TestCase("--tumour-patch", "8,15,16", "tumour stage")]
    public void BadOptionsAreUserErrors(string option, string value, string expected)
    {
        var args = Tiny.ToList();
        int at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value;
        else args.AddRange([option, value]);
        var (code, _, err) = Support.CliRun.Run([.. args, "--out", Path.Combine(Dir, "bad")]);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain(expected));
    }

    [Test]
    public void JitteredBoxContainsTheLiverAndStaysInTheVolume()
    {
        var rng = new Rng(5);
        int[] dims = [12, 30, 40], margin = [2, 4, 3], jitter = [1, 3, 4];
        var seenBefore = new HashSet<int>();
        for (int t = 0; t < 2000; t++)
        {
            // Livers anywhere, touching the volume's faces included.
            int d = 1 + rng.NextInt(dims[0]), h = 1 + rng.NextInt(dims[1]), w = 1 + rng.NextInt(dims[2]);
            var liver = new Box3(rng.NextInt(dims[0] - d + 1), rng.NextInt(dims[1] - h + 1), rng.NextInt(dims[2] - w + 1), d, h, w);
            var box = CascadeSampling.JitteredBox(liver, dims, margin, jitter, rng);
            Assert.That(box.Z0 >= 0 && box.Y0 >= 0 && box.X0 >= 0, Is.True, $"{box} starts outside the volume");
            Assert.That(box.Z0 + box.D <= dims[0] && box.Y0 + box.H <= dims[1] && box.X0 + box.W <= dims[2], Is.True, $"{box} ends outside {string.Join('×', dims)}");
            Assert.That(box.Z0 <= liver.Z0 && box.Y0 <= liver.Y0 && box.X0 <= liver.X0, Is.True, $"{box} cuts the liver {liver}");
            Assert.That(box.Z0 + box.D >= liver.Z0 + liver.D && box.Y0 + box.H >= liver.Y0 + liver.H && box.X0 + box.W >= liver.X0 + liver.W, Is.True,
                $"{box} cuts the liver {liver}");
            // Where not clipped, each face moves by margin ± jitter.
            int before = liver.X0 - box.X0;
            if (box.X0 > 0)
            {
                Assert.That(before, Is.InRange(Math.Max(0, margin[2] - jitter[2]), margin[2] + jitter[2]));
                seenBefore.Add(before);
            }
        }
        Assert.That(seenBefore.Count, Is.EqualTo(2 * jitter[2]), "the x margin takes every value in [margin − jitter, margin + jitter] (0 and up)");
    }

    [Test]
    public void ZeroJitterGivesTheInferenceBox()
    {
        var c = Case("7", [10, 20, 24], liver: new Box3(3, 5, 6, 4, 8, 9));
        var tc = new CascadeTumourCase(c);
        Assert.That(tc.Liver, Is.EqualTo(new Box3(3, 5, 6, 4, 8, 9)));
        var box = CascadeSampling.JitteredBox(tc.Liver, c.Dims, [1, 2, 3], [0, 0, 0], new Rng(1));
        var organ = c.Labels.Select(l => l >= 1).ToArray();
        Assert.That(box, Is.EqualTo(LabelOps.BoundingBox(organ, c.Dims, [1, 2, 3])));
    }

    /// <summary>Every voxel of a sampled patch that is not padding comes from inside the jittered box
    /// (which lies in the volume), with its own label; the box holds the whole reference liver.</summary>
    [TestCase(4, 8, 8)]    // patch smaller than the box
    [TestCase(16, 32, 32)] // patch larger than the box: padded, as the sliding window pads at inference
    public void SampledPatchesComeFromInsideTheBox(int pd, int ph, int pw)
    {
        int[] dims = [12, 26, 30];
        var c = Case("1", dims, liver: new Box3(2, 6, 8, 6, 12, 14), tumour: new Box3(4, 9, 11, 2, 3, 3));
        // Image value = 1 + the voxel's index, so every patch value tells where it came from (0 = padding).
        var image = Enumerable.Range(0, c.Labels.Length).Select(i => (float)(i + 1)).ToArray();
        c = c with { Image = image };
        var tc = new CascadeTumourCase(c);
        var sampler = new LitsPatchSampler(new LitsPatchOptions
        {
            Size = (pw, ph, pd), FlipProbability = (0, 0, 0), RotationProbability = 0, IntensityProbability = 0,
            ForegroundFraction = 0.5, LesionFraction = 0.5,
        });
        var rng = new Rng(9);
        int hw = dims[1] * dims[2];
        int fromTumour = 0;
        for (int t = 0; t < 300; t++)
        {
            var (patch, box) = CascadeSampling.Sample(tc, sampler, [1, 2, 2], [1, 2, 2], rng);
            Assert.That(box.Z0 <= 2 && box.Z0 + box.D >= 8 && box.Y0 <= 6 && box.Y0 + box.H >= 18 && box.X0 <= 8 && box.X0 + box.W >= 22, Is.True, $"{box}");
            for (int i = 0; i < patch.Image.Length; i++)
            {
                float v = patch.Image[i];
                if (v == 0)
                {
                    Assert.That(patch.Labels[i], Is.EqualTo(0), "padding is background");
                    continue;
                }
                int idx = (int)v - 1, z = idx / hw, y = idx / dims[2] % dims[1], x = idx % dims[2];
                if (z < box.Z0 || z >= box.Z0 + box.D || y < box.Y0 || y >= box.Y0 + box.H || x < box.X0 || x >= box.X0 + box.W)
                    Assert.Fail($"patch voxel from ({z},{y},{x}) lies outside the box {box}");
                Assert.That(patch.Labels[i], Is.EqualTo(c.Labels[idx]));
                if (c.Labels[idx] == 2) fromTumour++;
            }
        }
        Assert.That(fromTumour, Is.GreaterThan(0), "tumour voxels are sampled");
    }

    [Test]
    public void ACaseWithoutALiverIsRefusedByTheTumourStageAndSkippedByTheTrainer()
    {
        var empty = Case("9", [8, 16, 16], liver: null);
        var e = Assert.Throws<ArgumentException>(() => _ = new CascadeTumourCase(empty));
        Assert.That(e!.Message, Does.Contain("case 9").And.Contain("no liver"));

        var o = TinyOptions();
        var withLiver = UnetTrainerTests.Tiny(1);
        var lines = new List<string>();
        var r = new CascadeTrainer(o, Device.Cpu, lines.Add).Run([withLiver, empty], [UnetTrainerTests.Tiny(3)], Dir);
        Assert.That(lines.Any(l => l.Contains("case 9") && l.Contains("no liver") && l.Contains("leaves it out")), Is.True, string.Join("\n", lines));
        Assert.That(r.TumourEpochs, Has.Count.EqualTo(1));

        var none = Assert.Throws<ArgumentException>(() => new CascadeTrainer(o, Device.Cpu, _ => { }).Run([empty], [UnetTrainerTests.Tiny(3)], Dir));
        Assert.That(none!.Message, Does.Contain("none of the 1 training cases has a liver"));
    }

    [Test]
    public void SliceModelStagesTrainAndTheirCheckpointLoads()
    {
        var o = TinyOptions() with
        {
            Liver = CascadeTrainOptions.DefaultLiver(UNetMode.Unet2d) with { Patch = [8, 8], BaseWidth = 2, Depth = 1, Batch = 2, Epochs = 1, StepsPerEpoch = 1 },
        };
        var r = new CascadeTrainer(o, Device.Cpu, _ => { }).Run([UnetTrainerTests.Tiny(1), UnetTrainerTests.Tiny(2)], [UnetTrainerTests.Tiny(3)], Dir);
        Assert.That(r.LiverEpochs, Has.Count.EqualTo(1));
        using var seg = LoadedSegmenter.Load(Path.Combine(Dir, "checkpoint.safetensors"), Device.Cpu);
        Assert.That(seg.Kind, Is.EqualTo("cascade"));
        using (var c = TrainingCheckpoint.Load(Path.Combine(Dir, "checkpoint.safetensors"), Device.Cpu))
        {
            Assert.That(c.Extra["liver.model"], Is.EqualTo("unet2d"));
            Assert.That(c.Extra["liver.context"], Is.EqualTo("0"));
            Assert.That(c.Extra["tumour.model"], Is.EqualTo("unet25d"));
            Assert.That(c.Extra["tumour.context"], Is.EqualTo("1"));
        }
        // The loaded cascade scores the validation case as the trainer's own cascade did (one epoch: it is the best).
        var val = UnetTrainerTests.Tiny(3);
        var pred = seg.Segment(val.Image, val.Dims);
        double liver = pred.Any(v => v == 1) ? LabelOps.Dice(pred, val.Labels, 1) : 0;
        Assert.That(liver, Is.EqualTo(r.Cases[0].LiverDice).Within(1e-12));
        Assert.That(LabelOps.Dice(pred, val.Labels, 2, exact: true), Is.EqualTo(r.Cases[0].LesionDice).Within(1e-12));
    }

    [Test]
    public void DownsampleBelowOneIsRefused()
    {
        var o = TinyOptions() with { Downsample = 0 };
        var e = Assert.Throws<ArgumentException>(() => new CascadeTrainer(o, Device.Cpu, _ => { }).Run([UnetTrainerTests.Tiny(1)], [UnetTrainerTests.Tiny(2)], Dir));
        Assert.That(e!.Message, Does.Contain("--downsample must be at least 1"));
    }

    [Test]
    public void TheLiverStageSeesTheVolumeAsTheCascadeDownsamplesIt()
    {
        var c = UnetTrainerTests.Tiny(4, 8, 16, 16);
        var small = CascadeSampling.Downsampled(c, 2);
        Assert.That(small.Dims, Is.EqualTo(new[] { 4, 8, 8 }));
        Assert.That(small.Image, Is.EqualTo(Cascade.Resize(c.Image, c.Dims, [4, 8, 8])));
        Assert.That(small.Labels.All(l => l <= 1), Is.True);
        Assert.That(small.Labels.Count(l => l == 1), Is.GreaterThan(0));
        Assert.That(small.Spacing, Is.EqualTo(new[] { 4.0, 2.0, 2.0 }));
        Assert.That(CascadeSampling.Downsampled(c, 1).Labels, Is.EqualTo(c.Labels.Select(l => l >= 1 ? (byte)1 : (byte)0).ToArray()));
    }

    private static CascadeTrainOptions TinyOptions() => new()
    {
        Liver = CascadeTrainOptions.DefaultLiver(UNetMode.Unet3d) with { Patch = [4, 8, 8], BaseWidth = 2, Depth = 1, Epochs = 1, StepsPerEpoch = 1 },
        Tumour = CascadeTrainOptions.DefaultTumour(UNetMode.Unet25d) with { Patch = [8, 8], Context = 1, BaseWidth = 2, Depth = 1, Batch = 2, Epochs = 1, StepsPerEpoch = 1 },
        Margin = [1, 1, 1], Jitter = [1, 1, 1], Metadata = new HuWindow().ToMetadata(),
    };

    /// <summary>A case with a box of liver (and optionally a box of tumour inside it).</summary>
    private static SegmentationCase Case(string id, int[] dims, Box3? liver, Box3? tumour = null)
    {
        var labels = new byte[dims[0] * dims[1] * dims[2]];
        void Fill(Box3 b, byte v)
        {
            for (int z = b.Z0; z < b.Z0 + b.D; z++)
                for (int y = b.Y0; y < b.Y0 + b.H; y++)
                    for (int x = b.X0; x < b.X0 + b.W; x++) labels[(z * dims[1] + y) * dims[2] + x] = v;
        }
        if (liver is { } l) Fill(l, 1);
        if (tumour is { } t) Fill(t, 2);
        return new SegmentationCase(id, labels.Select(v => v * 0.4f).ToArray(), labels, dims, [2, 1, 1]);
    }
}
