using System.Text.Json;
using Kernels.Cli;
using Kernels.Nets;
using Kernels.Nets.Benchmarking;
using Kernels.Nets.IO;
using Kernels.Tests.IO;

namespace Kernels.Tests.Cli;

/// <summary>`kernels train cnn` and `kernels bench` in-process on the cpu: what they write, and
/// their errors for bad input.</summary>
public class TrainAndBenchCommandTests : TempFolderTest
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    [Test]
    public void TrainCnnWritesACheckpointAndMetrics()
    {
        var (code, output, err) = Run("train", "cnn", "--device", "cpu", "--seed", "3", "--steps", "6", "--batch", "8", "--out", Dir);
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Contain("step     6/6").And.Contain("held-out accuracy"));
        using var metrics = JsonDocument.Parse(File.ReadAllText(PathOf("metrics.json")));
        var m = metrics.RootElement;
        Assert.That(m.GetProperty("steps").GetInt32(), Is.EqualTo(6));
        Assert.That(m.GetProperty("device").GetString(), Is.EqualTo("cpu"));
        double acc = m.GetProperty("held_out_accuracy").GetDouble();
        Assert.That(acc, Is.InRange(0.0, 1.0));
        Assert.That(double.IsFinite(m.GetProperty("last_loss").GetDouble()));
        using var c = TrainingCheckpoint.Load(PathOf("checkpoint.safetensors"));
        Assert.That(c.Step, Is.EqualTo(6));
        Assert.That(c.Model.Tensors.Keys, Does.Contain("0.weight"));
        Assert.That(Directory.GetFiles(Dir, "*.tmp*"), Is.Empty, "no temporary files left behind");
    }

    [TestCase("--steps", "0", "--steps")]
    [TestCase("--batch", "-1", "--batch")]
    [TestCase("--image-size", "4", "--image-size")]
    [TestCase("--lr", "NaN", "--lr")]
    public void TrainRejectsBadOptions(string option, string value, string named)
    {
        var (code, _, err) = Run("train", "cnn", "--device", "cpu", option, value, "--out", Dir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain(named));
    }

    [Test]
    public void BenchPrintsOneJsonLinePerCase()
    {
        var json = PathOf("ours.jsonl");
        var (code, output, err) = Run("bench", "--device", "cpu", "--filter", "mlp", "--warmup", "0", "--repeat", "1", "--json", json);
        Assert.That(code, Is.Zero, err);
        var lines = File.ReadAllLines(json);
        Assert.That(lines, Has.Length.EqualTo(1));
        using var d = JsonDocument.Parse(lines[0]);
        Assert.That(d.RootElement.GetProperty("name").GetString(), Is.EqualTo("train step mlp b128"));
        Assert.That(d.RootElement.GetProperty("seconds").GetDouble(), Is.GreaterThan(0));
        Assert.That(d.RootElement.GetProperty("flops").GetDouble(), Is.GreaterThan(0));
        Assert.That(d.RootElement.GetProperty("bytes").GetDouble(), Is.Zero, "no traffic count for a training step");
        Assert.That(output, Does.Contain(lines[0]), "the same line goes to standard output");
    }

    [Test]
    public void BenchFilterTakesAlternativesSeparatedByBars()
    {
        var json = PathOf("two.jsonl");
        var (code, _, err) = Run("bench", "--device", "cpu", "--filter", "mlp | group decode fwd+bwd b16", "--warmup", "0", "--repeat", "1", "--json", json);
        Assert.That(code, Is.Zero, err);
        var names = File.ReadAllLines(json).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("name").GetString()).ToList();
        Assert.That(names, Is.EquivalentTo(new[] { "train step mlp b128", "group decode fwd+bwd b16 k80 d768 g1" }));
    }

    [Test]
    public void BenchProfilePrintsATablePerCaseAndKeepsTheJsonLines()
    {
        var json = PathOf("profiled.jsonl");
        var (code, output, err) = Run("bench", "--device", "cpu", "--filter", "mlp", "--warmup", "0", "--repeat", "1",
            "--json", json, "--profile");
        Assert.That(code, Is.Zero, err);
        Assert.That(File.ReadAllLines(json), Has.Length.EqualTo(1), "the profile adds no JSON line");
        Assert.That(output, Does.Contain("profile of train step mlp b128 on cpu").And.Contain("device idle"));
    }

    [Test]
    public void BenchWritesTheBytesOfABandwidthCase()
    {
        var json = PathOf("ours.jsonl");
        var (code, output, err) = Run("bench", "--device", "cpu", "--filter", "group decode fwd+bwd b16", "--warmup", "0", "--repeat", "1", "--json", json);
        Assert.That(code, Is.Zero, err);
        var lines = File.ReadAllLines(json);
        Assert.That(lines, Has.Length.EqualTo(1));
        using var d = JsonDocument.Parse(lines[0]);
        var expected = BenchCases.All.Single(c => c.Name == "group decode fwd+bwd b16 k80 d768 g1");
        Assert.That(d.RootElement.GetProperty("name").GetString(), Is.EqualTo(expected.Name));
        Assert.That(d.RootElement.GetProperty("bytes").GetDouble(), Is.EqualTo(expected.Bytes).And.GreaterThan(0));
        Assert.That(d.RootElement.GetProperty("flops").GetDouble(), Is.EqualTo(expected.Flops));
        Assert.That(output, Does.Contain("GB/s"));
    }

    [Test]
    public void BenchWithAFilterThatMatchesNothingNamesTheCases()
    {
        var (code, _, err) = Run("bench", "--device", "cpu", "--filter", "no-such-case");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("no-such-case").And.Contain("sgemm 1024x1024x1024"));
    }
}
