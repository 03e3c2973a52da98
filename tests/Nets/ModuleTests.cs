using System.Text.Json;
using Kernels.Nets;
using Kernels.Nets.Modules;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Networks;

public class ModuleTests
{
    private static Module Build(string name) => name switch
    {
        "linear" => new Linear(5, 3),
        "linear_nobias" => new Linear(5, 3, bias: false),
        "conv2d" => new Conv2d(3, 4, 3, padding: 1),
        "conv3d" => new Conv3d(2, 4, 3, groups: 2, bias: false),
        "convt2d" => new ConvTranspose2d(4, 2, 3, stride: 2, groups: 2),
        "convt3d" => new ConvTranspose3d(2, 3, 2, stride: 2),
        "bn1d" => new BatchNorm1d(6),
        "bn2d" => new BatchNorm2d(4),
        "bn3d" => new BatchNorm3d(2, affine: false),
        "ln" => new LayerNorm([6]),
        "gn" => new GroupNorm(2, 4),
        "in2d" => new InstanceNorm2d(3, affine: true),
        "in3d" => new InstanceNorm3d(3),
        "emb" => new Embedding(10, 4),
        "mha" => new MultiheadAttention(8, 2),
        "seq" => new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 2)),
        _ => throw new ArgumentException(name),
    };

    private static readonly string[] Layers =
        ["linear", "linear_nobias", "conv2d", "conv3d", "convt2d", "convt3d", "bn1d", "bn2d", "bn3d", "ln", "gn", "in2d", "in3d", "emb", "mha", "seq"];

    [Test]
    public void StateDictNamesShapesAndCountsMatchPyTorch()
    {
        var v = new VectorFile("modules");
        long live = TensorStats.LiveTensors;
        foreach (var name in Layers)
        {
            using var m = Build(name);
            // The metadata is a JSON list of [name, shape] pairs.
            var expected = JsonDocument.Parse(v.Meta("state." + name)).RootElement
                .EnumerateArray().Select(e => $"{e[0].GetString()} {Shape.Format(e[1].EnumerateArray().Select(d => d.GetInt32()).ToArray())}")
                .ToList();
            var actual = m.StateDict().Select(kv => $"{kv.Key} {kv.Value.Shape}").ToList();
            Assert.That(actual, Is.EqualTo(expected), $"{name} state dict");
            Assert.That(m.ParameterCount(), Is.EqualTo(long.Parse(v.Meta("count." + name))), $"{name} parameter count");
        }
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(live), "Dispose releases every parameter and buffer");
    }

    private static MultiheadAttention LoadedMha(VectorFile v)
    {
        var mha = new MultiheadAttention(8, 2, dtype: DType.F64);
        var state = new Dictionary<string, Tensor>();
        foreach (var key in new[] { "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias" })
            state[key] = v.Tensor("mha." + key, DType.F64);
        mha.LoadStateDict(state);
        foreach (var t in state.Values) t.Dispose();
        mha.Eval();
        return mha;
    }

    [Test]
    public void MultiheadAttentionMatchesPyTorch()
    {
        var v = new VectorFile("modules");
        using var mha = LoadedMha(v);
        using var scope = TensorScope.Begin();
        var q = v.Tensor("mha.q", DType.F64);
        var k = v.Tensor("mha.k", DType.F64);
        var val = v.Tensor("mha.v", DType.F64);
        var (o, w) = mha.Forward(q, k, val);
        Approx.Equal(v.Doubles("mha.out"), o, 1e-10, 1e-12, "output");
        Assert.That(w!.Shape, Is.EqualTo(new Shape(2, 3, 5)));
        Approx.Equal(v.Doubles("mha.weights"), w, 1e-10, 1e-12, "averaged weights");

        var (om, wm) = mha.Forward(q, k, val, averageWeights: false, attnMask: v.Tensor("mha.attn_mask", DType.F64),
            keyPaddingMask: v.Tensor("mha.kpm_additive", DType.F64));
        Approx.Equal(v.Doubles("mha.masked.out"), om, 1e-10, 1e-12, "masked output");
        Assert.That(wm!.Shape, Is.EqualTo(new Shape(2, 2, 3, 5)));
        Approx.Equal(v.Doubles("mha.masked.weights"), wm, 1e-10, 1e-12, "per-head masked weights");

        Approx.Equal(v.Doubles("mha.self.out"), mha.Forward(q), 1e-10, 1e-12, "self-attention");
    }

    [Test]
    public void MultiheadAttentionDropsAttentionWeightsOnlyInTraining()
    {
        using var mha = new MultiheadAttention(8, 2, dropout: 0.5, dtype: DType.F64);
        using var scope = TensorScope.Begin();
        var x = GradCheck.Input([2, 6, 8]);
        var w = mha.Forward(x, x, x, averageWeights: false).Weights!.ToDoubles();
        int zeros = w.Count(d => d == 0);
        Assert.That(zeros, Is.InRange(w.Length / 4, 3 * w.Length / 4), "about half the weights dropped");
        Assert.That(w.Where(d => d != 0).Max(), Is.GreaterThan(1.0 / 6), "survivors are rescaled by 1/(1 − p)");
        mha.Eval();
        var we = mha.Forward(x, x, x, averageWeights: false).Weights!.ToDoubles();
        for (int row = 0; row < we.Length / 6; row++)
            Assert.That(we.Skip(row * 6).Take(6).Sum(), Is.EqualTo(1).Within(1e-12), $"eval row {row} is a distribution");
    }

    [Test]
    public void MultiheadAttentionGradCheck()
    {
        var v = new VectorFile("modules");
        using var mha = LoadedMha(v);
        GradCheck.Check(t => mha.Forward(t[0], t[1], t[1], needWeights: false).Output,
            [GradCheck.Input([1, 2, 8]), GradCheck.Input([1, 3, 8], seed: 4)], what: "mha inputs");
        // And the parameters: the packed in-projection receives gradients through the slices.
        var x = v.Tensor("mha.q", DType.F64);
        using (var scope = TensorScope.Begin())
        {
            var loss = F.Sum(mha.Forward(x));
            loss.Backward();
        }
        foreach (var (name, p) in mha.NamedParameters())
            Assert.That(p.Grad, Is.Not.Null, name + " got no gradient");
        mha.ZeroGrad();
        Assert.That(mha.Parameters().All(p => p.Grad is null), Is.True);
        x.Dispose();
    }

    [Test]
    public void BatchNormRunningStatisticsMatchPyTorch()
    {
        var v = new VectorFile("modules");
        using var bn = new BatchNorm2d(3, dtype: DType.F64);
        using var scope = TensorScope.Begin();
        bn.Forward(v.Tensor("bn.x1", DType.F64));
        bn.Forward(v.Tensor("bn.x2", DType.F64));
        Approx.Equal(v.Doubles("bn.running_mean"), bn.RunningMean!, 1e-12, 1e-12, "running_mean");
        Approx.Equal(v.Doubles("bn.running_var"), bn.RunningVar!, 1e-12, 1e-12, "running_var");
        Assert.That(bn.NumBatchesTracked!.ToArray<int>()[0], Is.EqualTo(2));
        bn.Eval();
        Approx.Equal(v.Doubles("bn.eval_out"), bn.Forward(v.Tensor("bn.x1", DType.F64)), 1e-12, 1e-12, "eval output");
        Assert.That(bn.NumBatchesTracked!.ToArray<int>()[0], Is.EqualTo(2), "eval does not count batches");
    }

    [Test]
    public void LoadStateDictReportsMissingUnexpectedAndMismatchedNames()
    {
        using var a = new Sequential(new Linear(4, 3), new ReLU(), new BatchNorm1d(3));
        using var b = new Sequential(new Linear(4, 3), new ReLU(), new BatchNorm1d(3));
        using var scope = TensorScope.Begin();
        // A full copy works and makes the two equal.
        b.LoadStateDict(a.StateDict());
        foreach (var ((na, ta), (nb, tb)) in a.StateDict().Zip(b.StateDict()))
        {
            Assert.That(nb, Is.EqualTo(na));
            Approx.Equal(ta, tb, 0, 0, na);
        }
        var partial = a.StateDict().Where(kv => kv.Key != "0.bias").ToDictionary();
        partial["extra.weight"] = Tensor.Zeros([2]);
        var ex = Assert.Throws<ArgumentException>(() => b.LoadStateDict(partial));
        Assert.That(ex!.Message, Does.Contain("missing keys: 0.bias").And.Contain("unexpected keys: extra.weight"));
        var result = b.LoadStateDict(partial, strict: false);
        Assert.That(result.MissingKeys, Is.EqualTo(new[] { "0.bias" }));
        Assert.That(result.UnexpectedKeys, Is.EqualTo(new[] { "extra.weight" }));

        var wrong = a.StateDict().ToDictionary();
        wrong["2.running_mean"] = Tensor.Zeros([4]);
        ex = Assert.Throws<ArgumentException>(() => b.LoadStateDict(wrong));
        Assert.That(ex!.Message, Does.Contain("2.running_mean").And.Contain("[4]").And.Contain("[3]"));
    }

    [Test]
    public void NamesModesAndParameters()
    {
        using var m = new Sequential(new Linear(4, 8), new Dropout(0.5), new Sequential(new Linear(8, 2), new Sigmoid()));
        Assert.That(m.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "0.weight", "0.bias", "2.0.weight", "2.0.bias" }));
        Assert.That(m.NamedModules().Select(x => x.Name), Is.EqualTo(new[] { "", "0", "1", "2", "2.0", "2.1" }));
        Assert.That(m.NamedModules().All(x => x.Module.IsTraining), Is.True);
        m.Eval();
        Assert.That(m.NamedModules().Any(x => x.Module.IsTraining), Is.False);
        m.Train();
        Assert.That(m.NamedModules().All(x => x.Module.IsTraining), Is.True);
        Assert.That(m.Parameters().All(p => p.RequiresGrad && p.IsLeaf), Is.True);
    }

    [Test]
    public void DefaultInitialisationHasPyTorchBounds()
    {
        Rng.Seed(3);
        using var lin = new Linear(100, 300);
        double bound = 1 / Math.Sqrt(100);
        var w = lin.Weight.ToDoubles();
        Assert.That(w.Max(), Is.LessThanOrEqualTo(bound).And.GreaterThan(0.97 * bound));
        Assert.That(w.Min(), Is.GreaterThanOrEqualTo(-bound).And.LessThan(-0.97 * bound));
        var b = lin.Bias!.ToDoubles();
        Assert.That(b.All(x => Math.Abs(x) <= bound), Is.True);
        Assert.That(b.Distinct().Count(), Is.EqualTo(b.Length), "biases are random, not constant");

        using var conv = new Conv2d(8, 16, 3);
        double cb = 1 / Math.Sqrt(8 * 9);
        Assert.That(conv.Weight.ToDoubles().Max(x => Math.Abs(x)), Is.LessThanOrEqualTo(cb).And.GreaterThan(0.95 * cb));

        using var mha = new MultiheadAttention(16, 4);
        double xb = Math.Sqrt(6.0 / (16 + 48));
        Assert.That(mha.InProjWeight.ToDoubles().Max(x => Math.Abs(x)), Is.LessThanOrEqualTo(xb).And.GreaterThan(0.95 * xb));
        Assert.That(mha.InProjBias!.ToDoubles().All(x => x == 0) && mha.OutProj.Bias!.ToDoubles().All(x => x == 0), Is.True);

        // Normal initialisers: sample standard deviations within 5% of the formula.
        using var t = Tensor.Empty([200, 100]);
        Init.KaimingNormal(t, nonlinearity: "relu");
        Assert.That(Std(t.ToDoubles()), Is.EqualTo(Math.Sqrt(2.0 / 100)).Within(5).Percent);
        Init.XavierNormal(t);
        Assert.That(Std(t.ToDoubles()), Is.EqualTo(Math.Sqrt(2.0 / 300)).Within(5).Percent);
        Init.XavierUniform(t, gain: 2);
        Assert.That(t.ToDoubles().Max(), Is.LessThanOrEqualTo(2 * Math.Sqrt(6.0 / 300)));
        Init.Zeros(t);
        Assert.That(t.ToDoubles().All(x => x == 0), Is.True);
    }

    private static double Std(double[] x)
    {
        double m = x.Average();
        return Math.Sqrt(x.Sum(v => (v - m) * (v - m)) / x.Length);
    }
}
