using Kernels.Tests.Support;
using System.IO.Compression;
using System.Text.Json;
using Kernels.Cli;
using Kernels.Nets;
using Kernels.Nets.Data.Nifti;
using Kernels.Nets.IO;
using Kernels.Nets.Models.Lits;
using Kernels.Nets.Training;

namespace Kernels.Tests.Lits;

public class UnetTrainerTests : TempDirTest
{
    /// <summary>A small synthetic volume: a bright block (liver) with a brighter cube (tumour) in noise.</summary>
    internal static SegmentationCase Tiny(int seed, int d = 8, int h = 16, int w = 16)
    {
        var rng = new Rng((ulong)seed + 1);
        var img = new float[d * h * w];
        var lab = new byte[d * h * w];
        int oy = 2 + rng.NextInt(3), ox = 2 + rng.NextInt(3);
        for (int z = 0, i = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++, i++)
                {
                    bool liver = z >= 1 && z < d - 1 && y >= oy && y < oy + 9 && x >= ox && x < ox + 10;
                    bool tumour = liver && z >= 3 && z < 6 && y >= oy + 3 && y < oy + 6 && x >= ox + 3 && x < ox + 6;
                    lab[i] = tumour ? (byte)2 : liver ? (byte)1 : (byte)0;
                    img[i] = lab[i] * 0.6f - 0.5f + (float)(0.1 * rng.NextNormal());
                }
        return new SegmentationCase(seed.ToString(), img, lab, [d, h, w], [2, 1, 1]);
    }

    private static UNetTrainOptions TinyOptions(UNetMode mode) => new()
    {
        Mode = mode, Patch = mode == UNetMode.Unet3d ? [8, 8, 8] : [8, 8], Context = mode == UNetMode.Unet25d ? 1 : 0,
        BaseWidth = 2, Depth = 1, Epochs = 2, StepsPerEpoch = 2, Batch = 2, Metadata = new HuWindow().ToMetadata(),
    };

    [TestCase(UNetMode.Unet3d)]
    [TestCase(UNetMode.Unet25d)]
    public void TrainingWritesCheckpointMetricsAndOverlays(UNetMode mode)
    {
        var lines = new List<string>();
        var r = new UNetTrainer(TinyOptions(mode), Device.Cpu, lines.Add).Run([Tiny(1), Tiny(2)], [Tiny(3)], Dir);
        Assert.That(r.Epochs, Has.Count.EqualTo(2));
        Assert.That(lines.Any(l => l.Contains("voxels/s") && l.Contains("ETA")), Is.True, string.Join("\n", lines));
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "metrics.json"))))
        {
            var epochs = doc.RootElement.GetProperty("epochs");
            Assert.That(epochs.GetArrayLength(), Is.EqualTo(2));
            Assert.That(epochs[1].GetProperty("loss").GetDouble(), Is.GreaterThan(0));
            var final = doc.RootElement.GetProperty("final");
            Assert.That(final.GetProperty("liver_dice").GetDouble(), Is.EqualTo(r.LiverDice));
            Assert.That(final.GetProperty("cases")[0].GetProperty("id").GetString(), Is.EqualTo("3"));
        }
        var pngs = Directory.GetFiles(Path.Combine(Dir, "overlays"), "*.png");
        Assert.That(pngs, Has.Length.EqualTo(1));
        CheckPng(pngs[0], 16 * 3, 16 * 3);
        // curves.png (SkiaSharp's encoder): a PNG of the plot's size.
        var curves = File.ReadAllBytes(Path.Combine(Dir, "curves.png"));
        Assert.That(curves.Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
        Assert.That(System.Text.Encoding.ASCII.GetString(curves, 12, 4), Is.EqualTo("IHDR"));
        Assert.That(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(curves.AsSpan(16)), Is.EqualTo(Kernels.Nets.Imaging.Curves.DefaultWidth));
        Assert.That(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(curves.AsSpan(20)), Is.EqualTo(Kernels.Nets.Imaging.Curves.DefaultHeight));
        // The checkpoint rebuilds a segmenter that gives labels of the volume's size.
        using var seg = LoadedSegmenter.Load(Path.Combine(Dir, "checkpoint.safetensors"), Device.Cpu);
        Assert.That(seg.Kind, Is.EqualTo(mode.Name()));
        var labels = seg.Segment(Tiny(4).Image, [8, 16, 16]);
        Assert.That(labels, Has.Length.EqualTo(8 * 16 * 16));
        Assert.That(labels.All(l => l <= 2), Is.True);
    }

    /// <summary>Parses the PNG: signature, chunk CRCs, IHDR size, and an IDAT that inflates to one
    /// filter byte plus 3 bytes per pixel per row.</summary>
    private static void CheckPng(string path, int width, int height)
    {
        var b = File.ReadAllBytes(path);
        Assert.That(b.Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
        int at = 8;
        byte[]? idat = null;
        while (at < b.Length)
        {
            int len = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(at));
            var type = System.Text.Encoding.ASCII.GetString(b, at + 4, 4);
            uint crc = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(at + 8 + len));
            Assert.That(Overlay.Crc32(0xFFFFFFFFu, b.AsSpan(at + 4, 4 + len)) ^ 0xFFFFFFFFu, Is.EqualTo(crc), $"CRC of {type}");
            if (type == "IHDR")
            {
                Assert.That(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(at + 8)), Is.EqualTo(width));
                Assert.That(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(at + 12)), Is.EqualTo(height));
            }
            if (type == "IDAT") idat = b[(at + 8)..(at + 8 + len)];
            at += 12 + len;
        }
        Assert.That(idat, Is.Not.Null);
        using var z = new ZLibStream(new MemoryStream(idat!), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        Assert.That(raw.Length, Is.EqualTo((1 + 3L * width) * height));
    }

    [Test]
    public void Crc32MatchesTheKnownValue()
    {
        // CRC-32 of "123456789" is 0xCBF43926.
        Assert.That(Overlay.Crc32(0xFFFFFFFFu, "123456789"u8) ^ 0xFFFFFFFFu, Is.EqualTo(0xCBF43926u));
    }

    [TestCase(UNetMode.Unet3d)]
    [TestCase(UNetMode.Unet25d)]
    public void BatchesKeepImageAndLabelsAlignedAndFavourTumours(UNetMode mode)
    {
        var c = Tiny(5);
        var o = TinyOptions(mode) with { Batch = 6, ForegroundFraction = 1, LesionFraction = 1, RotationProbability = 0, Patch = mode == UNetMode.Unet3d ? [4, 4, 4] : [4, 4] };
        var sampler = UNetTrainer.Sampler(o) is var s0 ? new Kernels.Nets.Data.Lits.LitsPatchSampler(s0.Options with { IntensityProbability = 0 }) : null!;
        var volumes = new[] { new Kernels.Nets.Data.Lits.TrainingVolume(c.Image, c.Labels, (16, 16, 8)) };
        using var scope = TensorScope.Begin();
        var (x, y) = UNetTrainer.Batch(sampler, volumes, o, new Rng(9), Device.Cpu);
        Assert.That(x.Shape, Is.EqualTo(mode == UNetMode.Unet3d ? new Shape(6, 1, 4, 4, 4) : new Shape(6, 3, 4, 4)));
        Assert.That(y.Shape, Is.EqualTo(mode == UNetMode.Unet3d ? new Shape(6, 4, 4, 4) : new Shape(6, 4, 4)));
        var img = x.ToFloats();
        var lab = y.ToArray<int>();
        int per = lab.Length / 6, chans = mode == UNetMode.Unet3d ? 1 : 3, mid = mode == UNetMode.Unet3d ? 0 : 1;
        for (int b = 0; b < 6; b++)
        {
            Assert.That(lab.Skip(b * per).Take(per).Count(v => v == 2), Is.GreaterThan(0), "every patch is centred on a tumour voxel");
            // The image follows the label (0.6·label − 0.5 plus small noise); for 2.5D the middle channel.
            for (int i = 0; i < per; i++)
                Assert.That(Math.Abs(img[(b * chans + mid) * per + i] - (lab[b * per + i] * 0.6f - 0.5f)), Is.LessThan(0.5f));
        }
    }

    [Test]
    public void BadOptionsAreRefusedByName()
    {
        Assert.That(() => (TinyOptions(UNetMode.Unet3d) with { Patch = [8, 8] }).Validate(), Throws.ArgumentException.With.Message.Contains("--patch"));
        Assert.That(() => (TinyOptions(UNetMode.Unet3d) with { Patch = [8, 8, 7] }).Validate(), Throws.ArgumentException.With.Message.Contains("multiple of 2"));
        Assert.That(() => (TinyOptions(UNetMode.Unet3d) with { Epochs = 0 }).Validate(), Throws.ArgumentException.With.Message.Contains("--epochs"));
    }

    [Test]
    public void SegmentRefusesACheckpointOfAnotherModelNamingTheTensor()
    {
        using var lin = new Kernels.Nets.Modules.Linear(3, 2);
        var path = Path.Combine(Dir, "other.safetensors");
        new TrainingRun(lin).Save(path, new Dictionary<string, string> { ["model"] = "ml-decoder" });
        var e = Assert.Throws<InvalidDataException>(() => LoadedSegmenter.Load(path, Device.Cpu));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("ml-decoder").And.Contain("model.weight"));

        // A U-Net checkpoint whose tensors do not fit its metadata (another width): the tensor is named.
        using var net = new UNet(new UNetConfig { BaseWidth = 2, Depth = 1 });
        var meta = new Dictionary<string, string>(new UNetConfig { BaseWidth = 4, Depth = 1 }.ToMetadata())
        {
            ["model"] = "unet3d", ["patch"] = "8,8,8", ["context"] = "0", ["overlap"] = "0.5", ["tumour_dilation"] = "2",
            ["window_low"] = "-200", ["window_high"] = "250",
        };
        var bad = Path.Combine(Dir, "bad.safetensors");
        new TrainingRun(net).Save(bad, meta);
        e = Assert.Throws<InvalidDataException>(() => LoadedSegmenter.Load(bad, Device.Cpu));
        Assert.That(e!.Message, Does.Contain(bad).And.Contain("enc.0.conv1.weight"));
    }

    [Test]
    public void SegmentCommandWritesLabelsWithTheInputsGeometry()
    {
        var r = new UNetTrainer(TinyOptions(UNetMode.Unet3d) with { Epochs = 1, StepsPerEpoch = 1 }, Device.Cpu, _ => { })
            .Run([Tiny(1)], [Tiny(2)], Dir);
        Assert.That(r.Epochs, Has.Count.EqualTo(1));
        // An input in HU, anisotropic, with a rotated affine and an odd shape (not a multiple of the patch).
        int X = 13, Y = 11, Z = 5;
        var hu = new float[X * Y * Z];
        var rng = new Rng(3);
        for (int i = 0; i < hu.Length; i++) hu[i] = (float)(rng.NextDouble() * 400 - 200);
        double[,] affine = { { 0, -0.8, 0, 10 }, { 0.7, 0, 0, -20 }, { 0, 0, 2.5, 30 }, { 0, 0, 0, 1 } };
        var input = Path.Combine(Dir, "volume-7.nii.gz");
        NiftiWriter.Write(input, NiftiImage<float>.Create(hu, (X, Y, Z), (0.7, 0.8, 2.5), affine), NiftiDataType.Int16);
        var output = Path.Combine(Dir, "segmentation-7.nii.gz");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(["segment", "--checkpoint", Path.Combine(Dir, "checkpoint.safetensors"), "--volume", input, "--out", output], stdout, stderr);
        Assert.That(code, Is.EqualTo(0), stderr.ToString());
        var inImg = NiftiReader.Read(input);
        var outImg = NiftiReader.ReadLabels(output);
        Assert.That(outImg.Shape, Is.EqualTo(inImg.Shape));
        Assert.That(outImg.Spacing, Is.EqualTo(inImg.Spacing));
        Assert.That(outImg.Affine, Is.EqualTo(inImg.Affine));
        Assert.That(outImg.Data.All(v => v <= 2), Is.True);

        code = Program.Run(["segment", "--checkpoint", Path.Combine(Dir, "missing.safetensors"), "--volume", input, "--out", output], stdout, stderr);
        Assert.That(code, Is.EqualTo(Program.ExitUserError));
        Assert.That(stderr.ToString(), Does.Contain("missing.safetensors"));
    }

    [TestCase("--data", "lits:/no/such/folder", "/no/such/folder")]
    [TestCase("--data", "imagenet", "--data 'imagenet'")]
    [TestCase("--patch", "32,64", "--patch 32,64")]
    [TestCase("--patch", "30,64,64", "multiple of 8")]
    [TestCase("--norm", "layer", "--norm 'layer'")]
    public void TrainUnetRefusesBadArgumentsBeforeTraining(string option, string value, string expected)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(["train", "unet3d", "--device", "cpu", "--out", Dir, option, value], stdout, stderr);
        Assert.That(code, Is.EqualTo(Program.ExitUserError), stdout.ToString());
        Assert.That(stderr.ToString(), Does.Contain(expected));
    }

    [Test]
    public void TrainUnetReadsALitsFolder()
    {
        // Three tiny cases in the LiTS layout (HU volumes, uint8 labels): 2 train, 1 validation.
        for (int i = 0; i < 3; i++)
        {
            var c = Tiny(i);
            var hu = c.Image.Select(v => v * 200f).ToArray();
            NiftiWriter.Write(Path.Combine(Dir, $"volume-{i}.nii"), NiftiImage<float>.Create(hu, (16, 16, 8), (1, 1, 2)), NiftiDataType.Float32);
            NiftiWriter.Write(Path.Combine(Dir, $"segmentation-{i}.nii"), NiftiImage<byte>.Create(c.Labels, (16, 16, 8), (1, 1, 2)), NiftiDataType.UInt8);
        }
        var outDir = Path.Combine(Dir, "run");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(["train", "unet3d", "--device", "cpu", "--data", "lits:" + Dir, "--patch", "8,8,8", "--width", "2", "--depth", "1",
            "--epochs", "1", "--steps-per-epoch", "1", "--out", outDir], stdout, stderr);
        Assert.That(code, Is.EqualTo(0), stderr.ToString());
        var lines = stdout.ToString().Trim().Split('\n');
        Assert.That(lines[^1], Does.Match(@"^final liver dice: \d\.\d{4} lesion dice: \d\.\d{4}$"));
        Assert.That(stdout.ToString(), Does.Contain("2 for training, 1 for validation"));
        Assert.That(File.Exists(Path.Combine(outDir, "checkpoint.safetensors")), Is.True);
    }
}
