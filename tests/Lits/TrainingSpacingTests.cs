using Kernels.Tests.Support;
using System.Globalization;
using System.Text.RegularExpressions;
using Kernels.Cli;
using Kernels.Nets;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Data.Nifti;
using Kernels.Nets.IO;
using Kernels.Nets.Models.Lits;
using Kernels.Nets.Training;

namespace Kernels.Tests.Lits;

/// <summary>`train unet* --spacing` (resampling before training, the median default, the memory
/// refusal, --max-cases) and `kernels segment` bringing an input to the training spacing and back.</summary>
public class TrainingSpacingTests : TempDirTest
{
    /// <summary>Phantom case <paramref name="index"/> at a fixed spacing, written in the LiTS layout (int16 HU, uint8 labels).</summary>
    private static PhantomCase WritePhantom(string dir, int index, (double X, double Y, double Z) spacing, int x = 32, int y = 32, int z = 8)
    {
        Directory.CreateDirectory(dir);
        var pc = PhantomGenerator.Generate(new PhantomOptions { X = x, Y = y, Z = z, Spacing = spacing }, 7, index);
        NiftiWriter.Write(Path.Combine(dir, LitsLayout.VolumeName(index)), pc.VolumeImage(), NiftiDataType.Int16);
        NiftiWriter.Write(Path.Combine(dir, LitsLayout.SegmentationName(index)), pc.SegmentationImage(), NiftiDataType.UInt8);
        return pc;
    }

    /// <summary>`kernels train unet3d` on a LiTS folder, tiny and one step; returns (exit code, stdout, stderr).</summary>
    private static (int Code, string Out, string Err) Train(string data, string outDir, params string[] extra)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        string[] args = ["train", "unet3d", "--device", "cpu", "--data", "lits:" + data, "--patch", "8,8,8", "--width", "2", "--depth", "1",
            "--epochs", "1", "--steps-per-epoch", "1", "--out", outDir, .. extra];
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static IReadOnlyDictionary<string, string> Extra(string checkpoint)
    {
        using var ck = TrainingCheckpoint.Load(checkpoint, Device.Cpu);
        return new Dictionary<string, string>(ck.Extra);
    }

    [TestCase("0.8,0.8,2.5", 0.8, 0.8, 2.5)]
    [TestCase(" 1, 1.5 ,3 ", 1.0, 1.5, 3.0)]
    [TestCase("1e0,2,3", 1.0, 2.0, 3.0)]
    public void ParseReadsThreeMillimetreValues(string text, double x, double y, double z) =>
        Assert.That(TrainingSpacing.Parse(text), Is.EqualTo((x, y, z)));

    [Test]
    public void ParseReadsNativeAsNoResampling()
    {
        Assert.That(TrainingSpacing.Parse("native"), Is.Null);
        Assert.That(TrainingSpacing.Parse("Native"), Is.Null);
        Assert.That(TrainingSpacing.ToText(null), Is.EqualTo("native"));
        Assert.That(TrainingSpacing.Parse(TrainingSpacing.ToText((0.7734375, 0.7734375, 2.5))), Is.EqualTo((0.7734375, 0.7734375, 2.5)));
        // NIfTI pixdim values (float32) print short; other doubles keep every digit.
        Assert.That(TrainingSpacing.ToText(((double)1.2f, 0.1, 2.5)), Is.EqualTo("1.2,0.1,2.5"));
        Assert.That(TrainingSpacing.Parse(TrainingSpacing.ToText((1.0 / 3, 0.1, 2.5))), Is.EqualTo((1.0 / 3, 0.1, 2.5)));
    }

    [TestCase("0.8,0.8")]
    [TestCase("0.8,0.8,2.5,1")]
    [TestCase("a,b,c")]
    [TestCase("0,1,1")]
    [TestCase("-1,1,1")]
    [TestCase("1;1;1")]
    [TestCase("NaN,1,1")]
    [TestCase("1,1,1000")]
    [TestCase("")]
    public void ParseRefusesBadTextNamingTheOptionAndTheForm(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => TrainingSpacing.Parse(text));
        Assert.That(e!.Message, Does.Contain($"--spacing '{text}'").And.Contain("X,Y,Z in mm").And.Contain("native"));
    }

    [Test]
    public void MedianIsPerAxisAndAveragesTheMiddleTwo()
    {
        Assert.That(TrainingSpacing.Median([(0.8, 0.7, 2.5), (1.6, 1.0, 2.0), (1.0, 0.6, 5.0)]), Is.EqualTo((1.0, 0.7, 2.5)));
        Assert.That(TrainingSpacing.Median([(0.8, 0.8, 1.0), (1.0, 1.0, 3.0)]), Is.EqualTo((0.9, 0.9, 2.0)).Within(1e-12));
        Assert.Throws<ArgumentException>(() => TrainingSpacing.Median([]));
    }

    [Test]
    public void MemoryEstimateCountsKeptCasesLoadingPeakAndValidation()
    {
        // Two cases of 1000 native voxels prepared to 500 (one of them validation): kept 2·500·5,
        // loading peak 1000·6 + 500·5, validation 500·32.
        Assert.That(TrainingMemory.Estimate([1000, 1000], [500, 500], [500]), Is.EqualTo(5000 + 8500 + 16000));
        Assert.That(TrainingMemory.Estimate([4000, 1000], [500, 500], [500]), Is.EqualTo(5000 + 26500 + 16000), "the largest case sets the loading peak");
    }

    [TestCase("0.8,0.8")]
    [TestCase("fine")]
    [TestCase("0,0.8,2.5")]
    public void TrainUnetRefusesBadSpacingTextBeforeReadingAnything(string text)
    {
        // The phantom default would take minutes to generate; the refusal comes first.
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(["train", "unet3d", "--device", "cpu", "--out", Dir, "--spacing", text], stdout, stderr);
        Assert.That(code, Is.EqualTo(Program.ExitUserError), stdout.ToString());
        Assert.That(stderr.ToString(), Does.Contain($"--spacing '{text}'").And.Contain("X,Y,Z"));
        Assert.That(stdout.ToString(), Does.Not.Contain("generated"));
    }

    [Test]
    public void TrainingResamplesEveryCaseToTheGivenSpacingAndRecordsIt()
    {
        var data = Path.Combine(Dir, "data");
        for (int i = 0; i < 3; i++) WritePhantom(data, i, (0.8, 0.8, 2.5));
        var run = Path.Combine(Dir, "run");
        var (code, stdout, stderr) = Train(data, run, "--spacing", "1.6,1.6,2.5");
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        Assert.That(stdout, Does.Contain("training spacing 1.60,1.60,2.50 mm (--spacing)"));
        // Every case, validation included, is logged from its native grid to the new one.
        for (int i = 0; i < 3; i++)
            Assert.That(stdout, Does.Contain($"case {i + 1} of 3 (volume-{i}.nii): 32×32×8 at 0.80,0.80,2.50 mm → 16×16×8 at 1.60,1.60,2.50 mm"));
        Assert.That(stdout, Does.Contain("2 for training, 1 for validation"));
        var extra = Extra(Path.Combine(run, "checkpoint.safetensors"));
        Assert.That(extra[TrainingSpacing.MetadataKey], Is.EqualTo("1.6,1.6,2.5"));
        // The validation overlay is drawn on the resampled grid: 16×16 slices at 3 pixels a voxel (PNG IHDR width, height).
        var png = File.ReadAllBytes(Directory.GetFiles(Path.Combine(run, "overlays"), "*.png").Single());
        Assert.That((System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))),
            Is.EqualTo((48, 48)));
    }

    [Test]
    public void PhantomsAreResampledOnlyWhenASpacingIsGiven()
    {
        // unet25d this time: the slice modes share the loader. Seed 1 (the default): training
        // phantom 0 and the validation stream's first phantom.
        var po = new PhantomOptions { X = 32, Y = 32, Z = 16 };
        var first = PhantomGenerator.Generate(po, 1, 0);
        var expected = Resampling.ShapeFor(first.Shape, first.Spacing, (24, 24, 32));
        Assert.That(expected, Is.Not.EqualTo(first.Shape));
        var run = Path.Combine(Dir, "run");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        string[] common = ["train", "unet25d", "--device", "cpu", "--data", "phantom", "--cases", "1", "--val-cases", "1", "--size", "32,32,16",
            "--patch", "8,8", "--width", "2", "--depth", "1", "--batch", "2", "--epochs", "1", "--steps-per-epoch", "1"];
        int code = Program.Run([.. common, "--out", run, "--spacing", "24,24,32"], stdout, stderr);
        Assert.That(code, Is.EqualTo(0), stderr.ToString() + stdout);
        Assert.That(stdout.ToString(), Does.Contain("training spacing 24.00,24.00,32.00 mm (--spacing): phantoms resampled from their generator spacing to " +
            TrainingSpacing.Format(expected)));
        Assert.That(Extra(Path.Combine(run, "checkpoint.safetensors"))[TrainingSpacing.MetadataKey], Is.EqualTo("24,24,32"));

        stdout = new StringWriter();
        code = Program.Run([.. common, "--out", run + "-native"], stdout, stderr);
        Assert.That(code, Is.EqualTo(0), stderr.ToString() + stdout);
        Assert.That(stdout.ToString(), Does.Contain("training spacing: native (each phantom keeps its generator spacing)"));
        Assert.That(Extra(Path.Combine(run + "-native", "checkpoint.safetensors"))[TrainingSpacing.MetadataKey], Is.EqualTo("native"));
    }

    [Test]
    public void DefaultSpacingIsTheMedianOfTheTrainingCases()
    {
        var data = Path.Combine(Dir, "data");
        // Three training cases and one validation case (the last fifth, at least one); the
        // validation case's spacing must not enter the median (with it x would be 1.1).
        WritePhantom(data, 0, (0.8, 0.8, 2.5));
        WritePhantom(data, 1, (1.0, 1.2, 2.0));
        WritePhantom(data, 2, (1.6, 1.6, 3.0));
        WritePhantom(data, 3, (1.2, 1.2, 2.5));
        var run = Path.Combine(Dir, "run");
        var (code, stdout, stderr) = Train(data, run);
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        Assert.That(stdout, Does.Contain("training spacing 1.00,1.20,2.50 mm (the median of the 3 training cases"));
        Assert.That(stdout, Does.Contain("case 1 of 4 (volume-0.nii): 32×32×8 at 0.80,0.80,2.50 mm → 26×21×8 at"));
        Assert.That(stdout, Does.Contain("case 4 of 4 (volume-3.nii): 32×32×8 at 1.20,1.20,2.50 mm → 38×32×8 at"));
        Assert.That(Extra(Path.Combine(run, "checkpoint.safetensors"))[TrainingSpacing.MetadataKey], Is.EqualTo("1,1.2,2.5"));
    }

    [Test]
    public void NativeKeepsEveryCasesOwnGrid()
    {
        var data = Path.Combine(Dir, "data");
        WritePhantom(data, 0, (0.8, 0.8, 2.5));
        WritePhantom(data, 1, (1.0, 1.0, 2.0));
        WritePhantom(data, 2, (1.6, 1.6, 3.0));
        var run = Path.Combine(Dir, "run");
        var (code, stdout, stderr) = Train(data, run, "--spacing", "native");
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        Assert.That(stdout, Does.Contain("training spacing native (--spacing native"));
        Assert.That(stdout, Does.Contain("case 3 of 3 (volume-2.nii): 32×32×8 at 1.60,1.60,3.00 mm,"));
        Assert.That(stdout, Does.Not.Contain("→"));
        Assert.That(Extra(Path.Combine(run, "checkpoint.safetensors"))[TrainingSpacing.MetadataKey], Is.EqualTo("native"));
    }

    [Test]
    public void OversizedDataIsRefusedBeforeReadingWithTheTotalAndTheFixes()
    {
        var data = Path.Combine(Dir, "data");
        for (int i = 0; i < 4; i++) WritePhantom(data, i, (0.8, 0.8, 2.5));
        // Native 32×32×8 = 8192 voxels a case; with one validation case the estimate is
        // n·8192·5 + 8192·(6 + 5) + 8192·32 bytes: 516096 for 4 cases, 475136 for 3, 434176 for 2.
        string limit = (450_000 / (double)(1L << 30)).ToString("R", CultureInfo.InvariantCulture);
        var (code, stdout, stderr) = Train(data, Path.Combine(Dir, "run"), "--spacing", "native", "--max-memory", limit);
        Assert.That(code, Is.EqualTo(Program.ExitUserError), stdout);
        Assert.That(stderr, Does.Contain("the 4 cases").And.Contain("need about 0.49 MiB").And.Contain("--max-memory"));
        Assert.That(stderr, Does.Contain("--max-cases 2 (the first 2 cases fit)").And.Contain("coarser spacing"));
        Assert.That(stdout, Does.Not.Contain("case 1 of"), "refused before any case was read");

        // At a spacing the message names a concrete coarser one, which then fits.
        (code, stdout, stderr) = Train(data, Path.Combine(Dir, "run"), "--spacing", "0.8,0.8,2.5", "--max-memory", limit);
        Assert.That(code, Is.EqualTo(Program.ExitUserError), stdout);
        var m = Regex.Match(stderr, @"--spacing ([0-9.]+,[0-9.]+,[0-9.]+)\)");
        Assert.That(m.Success, Is.True, stderr);
        (code, stdout, stderr) = Train(data, Path.Combine(Dir, "run2"), "--spacing", m.Groups[1].Value, "--max-memory", limit);
        Assert.That(code, Is.EqualTo(0), stderr + stdout);

        // The advice's --max-cases fits too.
        (code, stdout, stderr) = Train(data, Path.Combine(Dir, "run3"), "--spacing", "native", "--max-memory", limit, "--max-cases", "2");
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        Assert.That(stdout, Does.Contain("using the first 2 of the 4 cases").And.Contain("1 for training, 1 for validation"));
    }

    [Test]
    public void OversizedPhantomRequestsAreRefusedBeforeGenerating()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(["train", "unet3d", "--device", "cpu", "--out", Dir, "--cases", "2", "--val-cases", "1", "--size", "32,32,16",
            "--max-memory", "0.0001"], stdout, stderr);
        Assert.That(code, Is.EqualTo(Program.ExitUserError), stdout.ToString());
        Assert.That(stderr.ToString(), Does.Contain("3 phantoms of 32×32×16 voxels need about").And.Contain("--cases").And.Contain("coarser --spacing"));
        Assert.That(stdout.ToString(), Does.Not.Contain("generated"));
    }

    [Test]
    public void MaxCasesBelowTwoAndOnPhantomsAreRefused()
    {
        var data = Path.Combine(Dir, "data");
        for (int i = 0; i < 3; i++) WritePhantom(data, i, (0.8, 0.8, 2.5));
        var (code, _, stderr) = Train(data, Path.Combine(Dir, "run"), "--max-cases", "1");
        Assert.That(code, Is.EqualTo(Program.ExitUserError));
        Assert.That(stderr, Does.Contain("1 case(s) kept by --max-cases"));

        var stdout = new StringWriter();
        var err = new StringWriter();
        code = Program.Run(["train", "unet3d", "--device", "cpu", "--out", Dir, "--max-cases", "3"], stdout, err);
        Assert.That(code, Is.EqualTo(Program.ExitUserError));
        Assert.That(err.ToString(), Does.Contain("--max-cases applies to --data lits:<dir>"));
    }

    [Test]
    public void SegmentResamplesToTheTrainingSpacingAndBackOntoTheInputsGrid()
    {
        var data = Path.Combine(Dir, "data");
        for (int i = 0; i < 3; i++) WritePhantom(data, i, (0.8, 0.8, 2.5));
        var run = Path.Combine(Dir, "run");
        var (code, stdout, stderr) = Train(data, run, "--spacing", "1.6,1.6,2.5");
        Assert.That(code, Is.EqualTo(0), stderr + stdout);

        // An anisotropic phantom at another spacing, odd shape, with a rotated, shifted affine.
        var pc = PhantomGenerator.Generate(new PhantomOptions { X = 30, Y = 28, Z = 9, Spacing = (0.7, 0.9, 3.0) }, 11, 0);
        double[,] affine = { { 0, -0.9, 0, 10 }, { 0.7, 0, 0, -20 }, { 0, 0, 3.0, 30 }, { 0, 0, 0, 1 } };
        var input = Path.Combine(Dir, "volume-9.nii.gz");
        NiftiWriter.Write(input, NiftiImage<float>.Create(pc.Volume, pc.Shape, pc.Spacing, affine), NiftiDataType.Int16);
        var output = Path.Combine(Dir, "segmentation-9.nii.gz");
        var o = new StringWriter();
        var e = new StringWriter();
        code = Program.Run(["segment", "--checkpoint", Path.Combine(run, "checkpoint.safetensors"), "--volume", input, "--out", output], o, e);
        Assert.That(code, Is.EqualTo(0), e.ToString());
        var dst = Resampling.ShapeFor((30, 28, 9), (0.7, 0.9, 3.0), (1.6, 1.6, 2.5));
        Assert.That(dst, Is.EqualTo((13, 16, 11)));
        Assert.That(o.ToString(), Does.Contain("resampled the input from 30×28×9 at 0.70,0.90,3.00 mm to 13×16×11 at"));
        var inImg = NiftiReader.Read(input);
        var outImg = NiftiReader.ReadLabels(output);
        Assert.That(outImg.Shape, Is.EqualTo(inImg.Shape));
        Assert.That(outImg.Spacing, Is.EqualTo(inImg.Spacing));
        Assert.That(outImg.Affine, Is.EqualTo(inImg.Affine));
        Assert.That(outImg.Data.All(v => v <= 2), Is.True);

        // The same labels as segmenting the resampled grid and resampling back by hand.
        using var model = LoadedSegmenter.Load(Path.Combine(run, "checkpoint.safetensors"), Device.Cpu);
        Assert.That(model.Spacing, Is.EqualTo((1.6, 1.6, 2.5)));
        var small = model.SegmentHu(Resampling.Linear(inImg.Data, inImg.Shape, dst), [dst.Z, dst.Y, dst.X]);
        Assert.That(outImg.Data, Is.EqualTo(Resampling.Nearest<byte>(small, dst, inImg.Shape)));
    }

    [Test]
    public void CheckpointsWithoutASpacingLoadAsNativeAndSegmentInPlace()
    {
        // As written before the key existed: only the HU window in the extra metadata.
        var o = new UNetTrainOptions
        {
            Patch = [8, 8, 8], BaseWidth = 2, Depth = 1, Epochs = 1, StepsPerEpoch = 1, Batch = 2, Metadata = new HuWindow().ToMetadata(),
        };
        new UNetTrainer(o, Device.Cpu, _ => { }).Run([UnetTrainerTests.Tiny(1)], [UnetTrainerTests.Tiny(2)], Dir);
        var path = Path.Combine(Dir, "checkpoint.safetensors");
        Assert.That(Extra(path).ContainsKey(TrainingSpacing.MetadataKey), Is.False);
        using (var model = LoadedSegmenter.Load(path, Device.Cpu))
        {
            Assert.That(model.Spacing, Is.Null);
            var hu = UnetTrainerTests.Tiny(4).Image.Select(v => v * 200f).ToArray();
            var img = NiftiImage<float>.Create(hu, (16, 16, 8), (0.5, 0.5, 4));
            var logged = new List<string>();
            var labels = model.SegmentImage(img, logged.Add);
            Assert.That(logged, Is.Empty, "no resampling without a training spacing");
            Assert.That(labels, Is.EqualTo(model.SegmentHu(hu, [8, 16, 16])));
        }

        // A spacing that is not one is refused naming the file.
        var bad = Path.Combine(Dir, "bad.safetensors");
        using var net = new UNet(o.NetConfig);
        var meta = new Dictionary<string, string>(new UNetTrainer(o, Device.Cpu, _ => { }).Metadata(o.NetConfig));
        foreach (var (k, v) in new HuWindow().ToMetadata()) meta[k] = v;
        meta[TrainingSpacing.MetadataKey] = "0.8,x,2";
        new TrainingRun(net).Save(bad, meta);
        var err = Assert.Throws<InvalidDataException>(() => LoadedSegmenter.Load(bad, Device.Cpu));
        Assert.That(err!.Message, Does.Contain(bad).And.Contain("extra.spacing"));
    }
}
