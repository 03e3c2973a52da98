using System.Text.Json;
using Kernels.Nets;
using Kernels.Nets.Models.MlDecoder;
using Kernels.Nets.Optim;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Models;

/// <summary>The ML-Decoder head against the reference: state-dict names, parameter counts,
/// forward and gradients (scripts/vectors/ml_decoder.py), frozen queries, modes.</summary>
public class MlDecoderHeadTests
{
    // The small config of scripts/vectors/ml_decoder.py.
    private const int C = 16, D = 24, Heads = 3, Ffn = 32, N = 7, K = 3;

    private static MlDecoderHead Small(DType dtype = DType.F64, double dropout = 0) =>
        new(C, N, K, D, Heads, Ffn, dropout, dtype);

    private static List<string> Expected(VectorFile v, string key) =>
        JsonDocument.Parse(v.Meta(key)).RootElement.EnumerateArray()
            .Select(e => $"{e[0].GetString()} {Shape.Format(e[1].EnumerateArray().Select(d => d.GetInt32()).ToArray())}")
            .ToList();

    private static void Load(Kernels.Nets.Modules.Module m, VectorFile v, string prefix)
    {
        var state = v.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(n => n[prefix.Length..], n => v.Tensor(n, DType.F64));
        m.LoadStateDict(state);
        foreach (var t in state.Values) t.Dispose();
    }

    [Test]
    public void StateDictNamesShapesAndCountMatchTheReference()
    {
        var v = new VectorFile("ml_decoder");
        using var head = Small();
        var actual = head.StateDict().Select(kv => $"{kv.Key} {kv.Value.Shape}").ToList();
        Assert.That(actual, Is.EqualTo(Expected(v, "state")));
        Assert.That(head.ParameterCount(), Is.EqualTo(long.Parse(v.Meta("count"))), "trainable parameters");
        Assert.That(head.NamedParameters().Select(p => p.Name), Has.No.Member("query_embed.weight"));
        Assert.That(head.GroupSize, Is.EqualTo(3));
    }

    [TestCase(80, -1, 80, 1, 7_150_672L)]
    [TestCase(1000, -1, 100, 10, 7_858_152L)]
    [TestCase(9605, 200, 200, 49, 14_625_157L)]
    public void ParameterCountsMatchTheReferenceFigures(int classes, int groups, int k, int g, long trainable)
    {
        using var head = new MlDecoderHead(2048, classes, groups);
        Assert.That(head.Groups, Is.EqualTo(k));
        Assert.That(head.GroupSize, Is.EqualTo(g));
        Assert.That(head.ParameterCount(), Is.EqualTo(trainable));
        Assert.That(head.QueryEmbed.Weight.Shape, Is.EqualTo(new Shape(k, 768)));
        Assert.That(head.StateDict().Keys, Does.Contain("query_embed.weight"));
    }

    [Test]
    public void ForwardAndGradientsMatchPyTorch()
    {
        var v = new VectorFile("ml_decoder");
        using var head = Small();
        Load(head, v, "state.");
        using var scope = TensorScope.Begin();
        var x = v.Tensor("x", DType.F64);
        x.RequiresGrad = true;
        var y = head.Forward(x);
        Approx.Equal(v.Doubles("out"), y, 1e-9, 1e-11, "logits");
        F.Sum(F.Mul(y, v.Tensor("r", DType.F64))).Backward();
        Approx.Equal(v.Doubles("grad.x"), x.Grad!, 1e-8, 1e-10, "d tokens");
        var grads = v.Names.Where(n => n.StartsWith("grad.", StringComparison.Ordinal) && n != "grad.x").ToList();
        Assert.That(grads, Has.Count.EqualTo(head.NamedParameters().Count()), "every trainable parameter has a reference gradient");
        foreach (var (name, p) in head.NamedParameters())
            Approx.Equal(v.Doubles("grad." + name), p.Grad!, 1e-8, 1e-10, "d " + name);
        Assert.That(head.QueryEmbed.Weight.Grad, Is.Null, "frozen queries get no gradient");

        // A feature map [B, C, H, W] is flattened to H·W tokens as the reference does.
        Approx.Equal(v.Doubles("fmap.out"), head.Forward(v.Tensor("fmap", DType.F64)), 1e-9, 1e-11, "logits from a feature map");
    }

    [Test]
    public void GradientsMatchCentralDifferences()
    {
        Rng.Seed(12);
        // N = 5, K = 2: g = 3 and the last of the K·g columns is cut.
        using var head = new MlDecoderHead(5, 5, 2, 6, 2, 7, 0, DType.F64);
        var x = GradCheck.Input([2, 3, 5]);
        using var _x = x;
        Tensor[] inputs = [x, .. head.Parameters()];
        GradCheck.Check(t => head.Forward(t[0]), inputs, what: "MlDecoderHead");

        using var zs = new ZeroShotMlDecoderHead(5, 4, 6, 2, 7, 0, dtype: DType.F64);
        var words = GradCheck.Input([3, 4], seed: 9);
        using var _w = words;
        GradCheck.Check(t => zs.Forward(t[0], t[1]), [x, words, .. zs.Parameters()], what: "ZeroShotMlDecoderHead");
    }

    [Test]
    public void OutputShapeForTokensAndFeatureMaps()
    {
        Rng.Seed(3);
        using var head = Small(DType.F32, 0.1);
        using var scope = TensorScope.Begin();
        Assert.That(head.Forward(Tensor.Randn([4, 9, C])).Shape, Is.EqualTo(new Shape(4, N)));
        Assert.That(head.Forward(Tensor.Randn([1, C, 3, 5])).Shape, Is.EqualTo(new Shape(1, N)));
        var ex = Assert.Throws<ArgumentException>(() => head.Forward(Tensor.Randn([2, 9, C + 1])));
        Assert.That(ex!.Message, Does.Contain("MlDecoderHead").And.Contain("[2, 9, 17]"));
    }

    [Test]
    public void EvalIsDeterministicAndTrainingUsesDropout()
    {
        Rng.Seed(4);
        using var head = Small(DType.F32, 0.1);
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn([3, 6, C]);
        head.Eval();
        var a = head.Forward(x).ToDoubles();
        var b = head.Forward(x).ToDoubles();
        Assert.That(b, Is.EqualTo(a), "two eval forwards agree exactly");
        head.Train();
        var t1 = head.Forward(x).ToDoubles();
        var t2 = head.Forward(x).ToDoubles();
        Assert.That(t1, Is.Not.EqualTo(a), "training mode applies dropout");
        Assert.That(t2, Is.Not.EqualTo(t1), "fresh dropout masks per forward");
    }

    [Test]
    public void FrozenQueriesSurviveAnOptimizerStepAndTheCheckpoint()
    {
        Rng.Seed(5);
        using var head = Small(DType.F32, 0.1);
        var queries = head.QueryEmbed.Weight.ToDoubles();
        var pooling = head.DuplicatePooling.ToDoubles();
        using var opt = new Adam(ParamGroup.DecayAndNoDecay(head, 1e-4), lr: 1e-2);
        Assert.That(opt.Groups.SelectMany(g => g.Parameters), Has.No.Member(head.QueryEmbed.Weight));
        using (var scope = TensorScope.Begin())
        {
            var y = head.Forward(Tensor.Randn([2, 5, C]));
            var loss = F.BinaryCrossEntropyWithLogits(y, Tensor.Rand([2, N]));
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.That(head.QueryEmbed.Weight.ToDoubles(), Is.EqualTo(queries), "queries unchanged");
        Assert.That(head.DuplicatePooling.ToDoubles(), Is.Not.EqualTo(pooling), "trained weights moved");

        // The queries travel with the state dict: a fresh head loaded from it computes the same.
        using var copy = Small(DType.F32, 0.1);
        Assert.That(copy.QueryEmbed.Weight.ToDoubles(), Is.Not.EqualTo(queries));
        copy.LoadStateDict(head.StateDict());
        Assert.That(copy.QueryEmbed.Weight.ToDoubles(), Is.EqualTo(queries));
        head.Eval();
        copy.Eval();
        using var s2 = TensorScope.Begin();
        var x = Tensor.Randn([2, 4, C]);
        Assert.That(copy.Forward(x).ToDoubles(), Is.EqualTo(head.Forward(x).ToDoubles()));
    }
}
