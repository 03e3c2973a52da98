using Kernels.Nets;
using Kernels.Nets.Benchmarking;
using Kernels.Ops.AsymmetricLoss;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Networks;

/// <summary>The bandwidth cases of <see cref="BenchCases"/>: each case's Bytes (and Flops) formula
/// against the tensors its workload really allocates, and each workload computing what it claims
/// to move (checked against the Functional ops), at small sizes on the cpu.</summary>
public class BenchBandwidthTests
{
    private static IBandwidthWorkload Create(BenchCase c)
    {
        var w = c.Create(Device.Cpu);
        Assert.That(w, Is.InstanceOf<IBandwidthWorkload>(), $"{c.Name}: a case with Bytes must count its tensors");
        return (IBandwidthWorkload)w;
    }

    /// <summary>The issue-7 cases are listed with their traffic (no allocation: the sizes are the GPU's).</summary>
    [Test]
    public void BandwidthCasesAreListedWithTheirBytes()
    {
        var byName = BenchCases.All.ToDictionary(c => c.Name); // throws on a duplicate: names are the join key with the peers
        Assert.That(byName["copy d2d 256MiB"].Bytes, Is.EqualTo(2.0 * 256 * (1 << 20)));
        Assert.That(byName["asl fwd+bwd b64 n9605"].Bytes, Is.EqualTo(BenchCases.AslBytes(64, 9605)));
        Assert.That(byName["asl fwd+bwd b1024 n9605"].Bytes, Is.EqualTo(BenchCases.AslBytes(1024, 9605)));
        Assert.That(byName["asl kernel b1024 n9605"].Bytes, Is.EqualTo(BenchCases.AslBytes(1024, 9605)));
        Assert.That(BenchCases.AslBytes(1024, 9605), Is.EqualTo(3.0 * 1024 * 9605 * sizeof(float)));
        var paper = byName["group decode fwd+bwd b64 k100 d768 g97"];
        Assert.That(paper.Flops, Is.EqualTo(6.0 * 64 * 9605 * 768));
        Assert.That(paper.Bytes, Is.EqualTo(4.0 * (3.0 * 64 * 100 * 768 + 3.0 * 100 * 768 * 97 + 2.0 * 64 * 9605)));
        Assert.That(byName["group decode fwd+bwd b16 k80 d768 g1"].Bytes, Is.GreaterThan(0));
    }

    /// <summary>Every listed case with Bytes, at its full size (allocated, not run): the formula
    /// equals the workload's tensors' bytes. Slow (about 4–8 s here: the full-size random fills);
    /// the small-size tests below cover each workload class and formula in the default run.</summary>
    [Test, Category("Slow")]
    public void EveryListedBandwidthCaseCountsTheTensorsItAllocates()
    {
        foreach (var c in BenchCases.All.Where(c => c.Bytes > 0))
        {
            using var w = Create(c);
            Assert.That(c.Bytes, Is.EqualTo((double)w.MinimalBytes), c.Name);
        }
    }

    [Test]
    public void CopyCaseCopiesItsBuffer()
    {
        var c = BenchCases.CopyCase(1);
        Assert.That(c.Name, Is.EqualTo("copy d2d 1MiB"));
        Assert.That(c.Bytes, Is.EqualTo(2.0 * (1 << 20)));
        using var w = (BenchCases.CopyWorkload)Create(c);
        Assert.That(w.Source.Numel, Is.EqualTo((1 << 20) / sizeof(float)));
        Assert.That(c.Bytes, Is.EqualTo((double)w.MinimalBytes));
        Assert.That(w.Destination.ToArray<float>().Distinct(), Is.EqualTo(new[] { 0f }));
        w.Run();
        Assert.That(w.Destination.ToArray<float>(), Is.EqualTo(w.Source.ToArray<float>()));
    }

    /// <summary>Classes not a multiple of groups (the last group padded) and batch 3: logits, dx and dw
    /// equal F.GroupDecode's forward and the autograd backward of sum(logits · r).</summary>
    [TestCase(3, 4, 5, 14, 4)]
    [TestCase(2, 6, 8, 6, 1)]
    public void GroupDecodeCaseComputesTheForwardAndBackwardItCounts(int b, int k, int d, int n, int g)
    {
        var c = BenchCases.GroupDecodeCase(b, k, d, n);
        Assert.That(c.Name, Is.EqualTo($"group decode fwd+bwd b{b} k{k} d{d} g{g}"));
        using var w = (BenchCases.GroupDecodeWorkload)Create(c);
        Assert.That(w.W.Shape, Is.EqualTo(new Shape(k, d, g)));
        Assert.That(w.Logits.Shape, Is.EqualTo(new Shape(b, n)));
        Assert.That(c.Bytes, Is.EqualTo((double)w.MinimalBytes));
        Assert.That(c.Bytes, Is.EqualTo(4.0 * (3 * w.X.Numel + 3 * w.W.Numel + 2 * w.Logits.Numel)));
        Assert.That(c.Flops, Is.EqualTo(3 * 2.0 * w.Logits.Numel * w.X.Shape[2]), "three products over the n real columns");
        w.Run();

        using var scope = TensorScope.Begin();
        var x = w.X.Clone().AsParameter();
        var wt = w.W.Clone().AsParameter();
        var y = F.GroupDecode(x, wt, null, n);
        y.Backward(w.R);
        Approx.Equal(y, w.Logits, what: "logits");
        Approx.Equal(x.Grad!, w.Dx, what: "dx");
        Approx.Equal(wt.Grad!, w.Dw, what: "dw");
        x.Grad!.Dispose();
        wt.Grad!.Dispose();
        x.Dispose();
        wt.Dispose();
    }

    [Test]
    public void AslKernelCaseWritesTheLossAndGradientOfTheFunctionalOp()
    {
        var c = BenchCases.AslKernelCase(3, 50);
        Assert.That(c.Name, Is.EqualTo("asl kernel b3 n50"));
        Assert.That(c.Bytes, Is.EqualTo(BenchCases.AslBytes(3, 50)));
        using var w = (BenchCases.AslKernelWorkload)Create(c);
        Assert.That(c.Bytes, Is.EqualTo((double)w.MinimalBytes));
        w.Run();

        using var scope = TensorScope.Begin();
        var logits = w.Logits.Clone().AsParameter();
        var loss = F.AsymmetricLoss(logits, w.Targets, AslOptions.Recipe);
        loss.Backward();
        Approx.Equal(loss, w.Loss, rtol: 1e-5, what: "loss");
        Approx.Equal(logits.Grad!, w.Gradient, what: "gradient");
        logits.Grad!.Dispose();
        logits.Dispose();
    }

    [Test]
    public void AslWorkloadCountsLogitsTargetsAndGradient()
    {
        using var w = new BenchCases.AslWorkload(Device.Cpu, 3, 50);
        Assert.That((double)w.MinimalBytes, Is.EqualTo(BenchCases.AslBytes(3, 50)));
        w.Run();
        Assert.That(w.Logits.Grad, Is.Not.Null);
        Assert.That(w.Logits.Grad!.Shape, Is.EqualTo(w.Logits.Shape), "the gradient written has the logits' size");
    }
}
