using Kernels.Nets;
using Kernels.Nets.Benchmarking;
using Kernels.Nets.Models.Lits;

namespace Kernels.Tests.Networks;

/// <summary>The "train step unet3d" benchmark case (BenchCases.UNetStepWorkload): the trainer's
/// model and step, and the flops helper the peer (benchmarks/peer/train_step.py) mirrors.</summary>
public class UNetBenchCaseTests
{
    private const string CaseName = "train step unet3d b2 32x64x64";

    [Test]
    public void FlopsHelperMatchesAHandCountForATinyNet()
    {
        // Width 2, depth 1, 2 classes, one 2×4×4 patch: stage 0 has 32 voxels, stage 1 has 4.
        var c = new UNetConfig { BaseWidth = 2, Depth = 1, Classes = 2 };
        double hand =
            1 * 2 * 27 * 32 + 2 * 2 * 27 * 32   // enc 0: 1→2, 2→2
            + 2 * 4 * 27 * 4 + 4 * 4 * 27 * 4   // enc 1 (first conv strided): 2→4, 4→4 at 4 voxels
            + 4 * 2 * 8 * 4                     // up: transposed k2 s2, 4→2, per input voxel
            + 4 * 2 * 27 * 32 + 2 * 2 * 27 * 32 // dec 0 on [skip, up]: 4→2, 2→2
            + 2 * 2 * 32;                       // 1×1 head 2→2
        Assert.That(hand, Is.EqualTo(18528));
        Assert.That(BenchCases.UNetForwardConvMacs(c, [2, 4, 4], 1), Is.EqualTo(hand));
        Assert.That(BenchCases.UNetForwardConvMacs(c, [2, 4, 4], 3), Is.EqualTo(3 * hand));
        // Max pooling instead of strided convs moves no multiply-adds.
        Assert.That(BenchCases.UNetForwardConvMacs(c with { Down = UNetDownsampling.MaxPool }, [2, 4, 4], 1), Is.EqualTo(hand));
        Assert.Throws<ArgumentException>(() => BenchCases.UNetForwardConvMacs(c, [4, 4], 1));
    }

    [Test]
    public void FlopsHelperAgreesWithTheTrainersModelWeights()
    {
        // Independent of the helper's channel arithmetic: every conv weight of the real model
        // (rank 5) times the voxels it is applied at (a transposed conv: its input's voxels).
        var o = new UNetTrainOptions();
        using var net = new UNet(o.NetConfig);
        int depth = o.Depth;
        double Voxels(int s) => o.Patch.Aggregate(1.0, (a, p) => a * (p >> s));
        double macs = 0;
        int convs = 0;
        foreach (var (name, p) in net.NamedParameters())
        {
            if (p.Rank != 5) continue;
            var parts = name.Split('.');
            int stage = parts[0] switch
            {
                "enc" => int.Parse(parts[1]),
                "dec" => depth - 1 - int.Parse(parts[1]),
                "up" => depth - int.Parse(parts[1]),
                "head" => 0,
                _ => throw new AssertionException($"unexpected parameter {name}"),
            };
            macs += p.Numel * Voxels(stage);
            convs++;
        }
        Assert.That(convs, Is.EqualTo(2 * (depth + 1) + depth + 2 * depth + 1));
        Assert.That(BenchCases.UNetForwardConvMacs(o.NetConfig, o.Patch, o.Batch), Is.EqualTo(o.Batch * macs));
        var bench = BenchCases.All.Single(c => c.Name == CaseName);
        Assert.That(bench.Flops, Is.EqualTo(3 * 2 * o.Batch * macs));
        Assert.That(bench.Flops, Is.EqualTo(21283995648.0), "the peer's flops (benchmarks/peer/train_step.py) at the defaults");
    }

    [Test]
    public void BenchModelIsTheTrainersModel()
    {
        using var w = BenchCases.UNetStepWorkload.Create(Device.Cpu);
        using var trainer = new UNet(new UNetTrainOptions().NetConfig);
        Assert.That(w.Model.ParameterCount(), Is.EqualTo(351_179));
        Assert.That(w.Model.ParameterCount(), Is.EqualTo(trainer.ParameterCount()));
        Assert.That(w.Model.Config, Is.EqualTo(trainer.Config));
        Assert.That(w.Input.Shape, Is.EqualTo(new Shape(2, 1, 32, 64, 64)));
        Assert.That(w.Labels.Shape, Is.EqualTo(new Shape(2, 32, 64, 64)));
        var counts = w.Labels.ToArray<int>().GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        Assert.That(counts.Keys.Order(), Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(counts[2], Is.LessThan(counts[1]), "tumours are small blobs inside the liver");
    }

    /// <summary>The step on a small patch (the full case takes seconds on 2 cores: see the Slow test):
    /// every conv weight moves, everything stays finite, and steps on the fixed batch lower the loss.</summary>
    [Test]
    public void StepOnASmallPatchTrainsOnTheCpu() => StepsTrain(new UNetTrainOptions { Patch = [8, 16, 16], Batch = 1 }, steps: 4);

    [Test, Category("Slow")]
    public void StepOfTheBenchCaseTrainsOnTheCpu() => StepsTrain(BenchCases.UNetStepWorkload.Options, steps: 2);

    private static void StepsTrain(UNetTrainOptions o, int steps)
    {
        using var w = new BenchCases.UNetStepWorkload(Device.Cpu, o);
        var loss = new DiceCeLoss(o.BatchDice);
        double Loss()
        {
            using var scope = TensorScope.Begin();
            return loss.Forward(w.Model.Forward(w.Input), w.Labels).Item();
        }
        var before = w.Model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray<float>());
        double l0 = Loss();
        w.Run();
        foreach (var (name, p) in w.Model.NamedParameters())
        {
            var now = p.ToArray<float>();
            Assert.That(now.All(float.IsFinite), Is.True, name);
            if (p.Rank >= 2)
                Assert.That(now.Zip(before[name]).Max(t => Math.Abs(t.First - t.Second)), Is.GreaterThan(0).And.LessThan(0.01), $"{name} moved by about lr");
        }
        for (int s = 1; s < steps; s++) w.Run();
        double l1 = Loss();
        Assert.That(double.IsFinite(l0) && double.IsFinite(l1), Is.True);
        Assert.That(l1, Is.LessThan(l0), "training steps on one fixed batch lower its loss");
    }
}
