using Kernels.Nets;
using Kernels.Nets.IO;
using Kernels.Nets.Models.MlDecoder;
using Kernels.Tests.IO;

namespace Kernels.Tests.MlDecoder;

/// <summary>MlDecoderCheckpoint: rebuilding a model from a file's metadata or tensors, PyTorch-side
/// names, and the refusal of a file that does not fit, naming the tensor and both shapes.</summary>
public class CheckpointLoadTests : TempFolderTest
{
    private static readonly MlDecoderSpec Small = new("tiny-tresnet", "ml-decoder", 6, -1, 32, 4, 48, 32);

    private static void SavePlain(string path, MultiLabelClassifier model, Func<string, string> rename, Dictionary<string, string>? meta = null) =>
        SafeTensors.Save(path, model.StateDict().Select(kv => new KeyValuePair<string, Tensor>(rename(kv.Key), kv.Value)), meta);

    private static void AssertSameWeights(MultiLabelClassifier a, MultiLabelClassifier b)
    {
        var sa = a.StateDict();
        var sb = b.StateDict();
        Assert.That(sb.Keys, Is.EqualTo(sa.Keys));
        foreach (var (name, t) in sa.Where(kv => kv.Value.DType == DType.F32))
            Assert.That(sb[name].ToArray<float>(), Is.EqualTo(t.ToArray<float>()), name);
    }

    [Test]
    public void ATrainingCheckpointRebuildsTheSameModelFromItsMetadata()
    {
        Rng.Seed(3);
        using var model = Small.Build(Device.Cpu);
        var meta = Small.ToMetadata();
        meta[MlDecoderSpec.ClassNamesKey] = "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]";
        new Kernels.Nets.Training.TrainingRun(model).Save(PathOf("ck.safetensors"), meta);

        Rng.Seed(99);
        using var ck = MlDecoderCheckpoint.Load(PathOf("ck.safetensors"));
        Assert.That(ck.Spec, Is.EqualTo(Small with { Groups = 6 }), "K is stored resolved: min(100, N)");
        Assert.That(ck.ClassNames, Is.EqualTo(new[] { "a", "b", "c", "d", "e", "f" }));
        using var rebuilt = ck.BuildModel(Device.Cpu);
        AssertSameWeights(model, rebuilt);
    }

    [Test]
    public void APyTorchStateDictLoadsUnderTheReferenceNamesWithTheArchitectureInferred()
    {
        Rng.Seed(4);
        using var model = Small.Build(Device.Cpu);
        // DataParallel prefix and the reference's TResNet layout: head.decoder.<name>.
        SavePlain(PathOf("torch.safetensors"), model,
            n => "module." + (n.StartsWith("head.", StringComparison.Ordinal) ? "head.decoder." + n["head.".Length..] : n));
        using var ck = MlDecoderCheckpoint.Load(PathOf("torch.safetensors"), defaults: new MlDecoderCheckpoint.Defaults("tiny-tresnet", 32, Heads: 4));
        Assert.That(ck.Spec, Is.EqualTo(Small with { Groups = 6 }), "classes, K, D and FFN from the tensor shapes");
        Assert.That(ck.ClassNames, Is.Null);
        using var rebuilt = ck.BuildModel(Device.Cpu);
        AssertSameWeights(model, rebuilt);
    }

    [Test]
    public void AStateDictWithoutMetadataOrBackboneAsksForIt()
    {
        using var model = Small.Build(Device.Cpu);
        SavePlain(PathOf("plain.safetensors"), model, n => n);
        var e = Assert.Throws<InvalidDataException>(() => MlDecoderCheckpoint.Load(PathOf("plain.safetensors")));
        Assert.That(e!.Message, Does.Contain("backbone").And.Contain("--backbone"));
    }

    [TestCase("module.head.decoder.duplicate_pooling", false, "head.duplicate_pooling")]
    [TestCase("head.decoder.layers.0.linear1.weight", false, "head.layers.0.linear1.weight")]
    [TestCase("body.conv1.weight", false, "body.conv1.weight")]
    [TestCase("fc.decoder.query_embed.weight", true, "head.query_embed.weight")]
    [TestCase("fc.weight", true, "head.fc.weight")]
    [TestCase("module.layer1.0.conv1.weight", true, "body.layer1.0.conv1.weight")]
    public void ReferenceNamesMapToThisEngines(string name, bool torchvision, string expected) =>
        Assert.That(MlDecoderCheckpoint.NormalizeName(name, torchvision), Is.EqualTo(expected));

    [Test]
    public void AnotherClassCountIsRefusedNamingTheTensorAndBothShapes()
    {
        using var eight = (Small with { Classes = 8 }).Build(Device.Cpu);
        using var six = Small.Build(Device.Cpu);
        var e = Assert.Throws<InvalidDataException>(() => MlDecoderCheckpoint.LoadInto(six, eight.StateDict(), "other.safetensors"));
        Assert.That(e!.Message, Does.Contain("other.safetensors").And.Contain("'head.duplicate_pooling'")
            .And.Contain("[8, 32, 1]").And.Contain("[6, 32, 1]"));
    }

    [Test]
    public void AnotherArchitectureIsRefusedNamingATensor()
    {
        using var gap = (Small with { Head = "gap" }).Build(Device.Cpu);
        using var decoder = Small.Build(Device.Cpu);
        var e = Assert.Throws<InvalidDataException>(() => MlDecoderCheckpoint.LoadInto(decoder, gap.StateDict(), "gap.safetensors"));
        Assert.That(e!.Message, Does.Contain("gap.safetensors does not fit").And.Contain("'head.duplicate_pooling'").And.Contain("missing"));
    }
}
