using Kernels.Nets;
using Kernels.Nets.IO;

namespace Kernels.Tests.IO;

public class TrainingCheckpointTests : TempFolderTest
{
    private static OrderedDictionary<string, Tensor> Dict(params (string Name, Tensor T)[] items)
    {
        var d = new OrderedDictionary<string, Tensor>();
        foreach (var (n, t) in items) d.Add(n, t);
        return d;
    }

    [Test]
    public void RoundTripsEveryPart()
    {
        using var w = Tensor.FromArray(new float[] { 1, -2, 3, 4, 5, 6 }, [2, 3]);
        using var b = Tensor.FromArray(new float[] { 0.5f }, [1]);
        using var m1 = Tensor.FromArray(new[] { 0.1, 0.2 }, [2]);
        using var steps = Tensor.FromArray(new[] { 17 }, []);
        using var ew = Tensor.FromArray(new float[] { 9, 8, 7, 6, 5, 4 }, [2, 3]);
        var rng = new Rng(123);
        var ckpt = new TrainingCheckpoint
        {
            Step = 1234,
            Epoch = 5,
            Model = TrainingState.OfTensors(Dict(("fc.weight", w), ("fc.bias", b))),
            Optimizer = new TrainingState(Dict(("0.exp_avg", m1), ("0.step", steps)),
                new Dictionary<string, string> { ["lr"] = "0.001", ["betas"] = "[0.9,0.999]", ["kind"] = "AdamW" }),
            Ema = TrainingState.OfTensors(Dict(("fc.weight", ew))),
            Schedule = new Dictionary<string, string> { ["last_epoch"] = "4", ["kind"] = "cosine" },
            RngState = rng.GetState(),
            Extra = new Dictionary<string, string> { ["model"] = "resnet18", ["config"] = "{\"a\":1}" },
        };
        var path = PathOf("ckpt.safetensors");
        ckpt.Save(path);

        // An ordinary safetensors file with the documented names.
        var h = SafeTensors.ReadHeader(path);
        Assert.That(h.Tensors.Select(t => t.Name),
            Is.EqualTo(new[] { "model.fc.weight", "model.fc.bias", "optim.0.exp_avg", "optim.0.step", "ema.fc.weight" }));
        Assert.That(h.Metadata["format_version"], Is.EqualTo("1"));
        Assert.That(h.Metadata["optim.lr"], Is.EqualTo("0.001"));

        using var back = TrainingCheckpoint.Load(path);
        Assert.That(back.Step, Is.EqualTo(1234));
        Assert.That(back.Epoch, Is.EqualTo(5));
        Assert.That(back.Model.Tensors.Keys, Is.EqualTo(new[] { "fc.weight", "fc.bias" }));
        Assert.That(back.Model.Tensors["fc.weight"].ToArray<float>(), Is.EqualTo(w.ToArray<float>()));
        Assert.That(back.Model.Tensors["fc.weight"].Shape, Is.EqualTo(new Shape(2, 3)));
        Assert.That(back.Model.Tensors["fc.bias"].ToArray<float>(), Is.EqualTo(new[] { 0.5f }));
        Assert.That(back.Model.Metadata, Is.Empty);
        Assert.That(back.Optimizer, Is.Not.Null);
        Assert.That(back.Optimizer!.Tensors["0.exp_avg"].ToArray<double>(), Is.EqualTo(new[] { 0.1, 0.2 }));
        Assert.That(back.Optimizer.Tensors["0.step"].DType, Is.EqualTo(DType.I32));
        Assert.That(back.Optimizer.Tensors["0.step"].Item(), Is.EqualTo(17));
        Assert.That(back.Optimizer.Metadata, Is.EquivalentTo(ckpt.Optimizer.Metadata));
        Assert.That(back.Ema!.Tensors["fc.weight"].ToArray<float>(), Is.EqualTo(ew.ToArray<float>()));
        Assert.That(back.Schedule, Is.EquivalentTo(ckpt.Schedule));
        Assert.That(back.Extra, Is.EquivalentTo(ckpt.Extra));
        Assert.That(back.RngState, Is.EqualTo(rng.GetState()));
    }

    [Test]
    public void ResumingRestoresTheRngExactly()
    {
        var rng = new Rng(2024);
        for (int i = 0; i < 37; i++) rng.NextDouble();
        var path = PathOf("rng.safetensors");
        using var w = Tensor.Ones([3]);
        new TrainingCheckpoint { Step = 37, Model = TrainingState.OfTensors(Dict(("w", w))), RngState = rng.GetState() }.Save(path);

        // What an uninterrupted run draws next: uniform, normal, integers and a shuffle.
        var expected = Draw(rng);

        // Somewhere else the generator moves on (or the process restarts with another seed) ...
        var resumed = new Rng(99);
        resumed.NextUInt64();
        Assert.That(Draw(resumed), Is.Not.EqualTo(expected), "a different stream, so the test can fail");
        // ... and the checkpoint puts it back.
        using var ckpt = TrainingCheckpoint.Load(path);
        ckpt.RestoreRng(resumed);
        Assert.That(Draw(resumed), Is.EqualTo(expected));

        // The same through the metadata helpers on the original generator.
        var text = RngState.Encode(rng);
        var again = Draw(rng);
        RngState.Restore(rng, text);
        Assert.That(Draw(rng), Is.EqualTo(again));
    }

    private static double[] Draw(Rng rng)
    {
        var u = new double[5];
        rng.FillUniform(u, -1, 1);
        var n = new double[3];
        rng.FillNormal(n, 0, 1);
        var items = Enumerable.Range(0, 10).ToArray();
        rng.Shuffle<int>(items);
        return [.. u, .. n, rng.NextInt(1000), rng.NextNormal(), .. items.Select(i => (double)i)];
    }

    [Test]
    public void RngStateIsFourHexStrings()
    {
        ulong[] state = [0x0123456789abcdefUL, 1, ulong.MaxValue, 0];
        var text = RngState.Encode(state);
        Assert.That(text, Is.EqualTo("[\"0123456789abcdef\",\"0000000000000001\",\"ffffffffffffffff\",\"0000000000000000\"]"));
        Assert.That(RngState.Decode(text), Is.EqualTo(state));
    }

    [TestCase("[\"1\",\"2\",\"3\"]", "4 words")]
    [TestCase("[\"1\",\"2\",\"3\",\"xyz\"]", "word 3")]
    [TestCase("[\"1\",\"2\",\"3\",\"11112222333344445\"]", "word 3")]
    [TestCase("[\"0\",\"0\",\"0\",\"0\"]", "all zeros")]
    [TestCase("not json", "not a JSON array")]
    public void BadRngTextIsRefused(string text, string fragment)
    {
        var e = Assert.Throws<ArgumentException>(() => RngState.Decode(text));
        Assert.That(e!.Message, Does.Contain(fragment));
    }

    [Test]
    public void AbsentAndEmptyPartsStayDistinct()
    {
        var path = PathOf("parts.safetensors");
        new TrainingCheckpoint { Step = 1, Optimizer = TrainingState.Empty }.Save(path);
        using var back = TrainingCheckpoint.Load(path);
        Assert.That(back.Optimizer, Is.Not.Null);
        Assert.That(back.Optimizer!.Tensors, Is.Empty);
        Assert.That(back.Ema, Is.Null);
        Assert.That(back.RngState, Is.Null);
        Assert.Throws<InvalidOperationException>(() => back.RestoreRng(new Rng(1)));
    }

    [Test]
    public void DisposingALoadedCheckpointReleasesItsTensors()
    {
        var path = PathOf("own.safetensors");
        using (var w = Tensor.Ones([4]))
        using (var m = Tensor.Ones([4]))
            new TrainingCheckpoint { Model = TrainingState.OfTensors(Dict(("w", w))), Optimizer = TrainingState.OfTensors(Dict(("m", m))) }.Save(path);
        long live = TensorStats.LiveTensors;
        var ckpt = TrainingCheckpoint.Load(path);
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(live + 2));
        ckpt.Dispose();
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(live));
    }

    [Test]
    public void PlainSafetensorsFileIsNotACheckpoint()
    {
        var path = PathOf("plain.safetensors");
        using var t = Tensor.Ones([2]);
        SafeTensors.Save(path, [new("w", t)]);
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("metadata 'format' is missing"));
    }

    private string CheckpointWith(string key, string value)
    {
        var path = PathOf("c.safetensors");
        new TrainingCheckpoint { Step = 3 }.Save(path);
        var h = SafeTensors.ReadHeader(path);
        var meta = h.Metadata.ToDictionary();
        meta[key] = value;
        SafeTensors.Save(path, [], meta);
        return path;
    }

    [TestCase("format_version", "2", "format version 2; this build reads up to 1")]
    [TestCase("format_version", "x", "'format_version' is 'x'")]
    [TestCase("format", "something-else", "'format' is 'something-else'")]
    [TestCase("step", "-4", "'step' is '-4'")]
    [TestCase("epoch", "1.5", "'epoch' is '1.5'")]
    [TestCase("rng", "[\"1\"]", "metadata 'rng' is unusable")]
    public void BadCheckpointMetadataIsRefused(string key, string value, string fragment)
    {
        var path = CheckpointWith(key, value);
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path));
        Assert.That(e!.Message, Does.Contain(fragment));
    }

    [TestCase("weights.w"), TestCase("model"), TestCase("model.")]
    public void TensorOutsideTheKnownPartsIsRefused(string name)
    {
        var path = PathOf("c.safetensors");
        new TrainingCheckpoint { Step = 3 }.Save(path);
        var meta = SafeTensors.ReadHeader(path).Metadata;
        using var t = Tensor.Ones([1]);
        SafeTensors.Save(path, [new(name, t)], meta);
        long live = TensorStats.LiveTensors;
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path));
        Assert.That(e!.Message, Does.Contain($"'{name}'"));
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(live));
    }

    [Test]
    public void TrainingStateSavesAndLoadsAlone()
    {
        var path = PathOf("state.safetensors");
        using var a = Tensor.FromArray(new[] { 1, 2, 3 }, [3]);
        new TrainingState(Dict(("a", a)), new Dictionary<string, string> { ["lr"] = "0.1" }).Save(path);
        var s = TrainingState.Load(path);
        Assert.That(s.Tensors["a"].ToArray<int>(), Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(s.Metadata["lr"], Is.EqualTo("0.1"));
        s.DisposeTensors();
        Assert.That(s.Tensors["a"].IsDisposed);
    }
}
