using System.Text.Json;
using Kernels.Nets;
using Kernels.Nets.Models.MlDecoder;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Models;

/// <summary>The zero-shot ML-Decoder head: reference forward and gradients, any number of
/// queries, query augmentations only in training.</summary>
public class ZeroShotHeadTests
{
    private const int C = 16, D = 24, Heads = 3, Ffn = 32, Word = 10;

    private static ZeroShotMlDecoderHead Small(DType dtype = DType.F64, double dropout = 0, ZeroShotAugmentation? aug = null) =>
        new(C, Word, D, Heads, Ffn, dropout, aug, dtype);

    [Test]
    public void ForwardAndGradientsMatchPyTorch()
    {
        var v = new VectorFile("ml_decoder");
        using var head = Small();
        var expected = JsonDocument.Parse(v.Meta("zsl.state")).RootElement.EnumerateArray()
            .Select(e => $"{e[0].GetString()} {Shape.Format(e[1].EnumerateArray().Select(d => d.GetInt32()).ToArray())}").ToList();
        Assert.That(head.StateDict().Select(kv => $"{kv.Key} {kv.Value.Shape}"), Is.EqualTo(expected));
        const string prefix = "zsl.state.";
        var state = v.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(n => n[prefix.Length..], n => v.Tensor(n, DType.F64));
        head.LoadStateDict(state);
        foreach (var t in state.Values) t.Dispose();

        using var scope = TensorScope.Begin();
        var x = v.Tensor("zsl.x", DType.F64);
        x.RequiresGrad = true;
        var y = head.Forward(x, v.Tensor("zsl.words", DType.F64));
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 4)));
        Approx.Equal(v.Doubles("zsl.out"), y, 1e-9, 1e-11, "logits");
        F.Sum(F.Mul(y, v.Tensor("zsl.r", DType.F64))).Backward();
        Approx.Equal(v.Doubles("zsl.grad.x"), x.Grad!, 1e-8, 1e-10, "d tokens");
        foreach (var (name, p) in head.NamedParameters())
            Approx.Equal(v.Doubles("zsl.grad." + name), p.Grad!, 1e-8, 1e-10, "d " + name);
    }

    [TestCase(1)]
    [TestCase(5)]
    [TestCase(13)]
    public void OneLogitPerQuery(int q)
    {
        Rng.Seed(6);
        using var head = Small(DType.F32, 0.1);
        using var scope = TensorScope.Begin();
        head.Eval();
        Assert.That(head.Forward(Tensor.Randn([3, 7, C]), Tensor.Randn([q, Word])).Shape, Is.EqualTo(new Shape(3, q)));
        head.Train();
        Assert.That(head.Forward(Tensor.Randn([2, C, 2, 2]), Tensor.Randn([q, Word])).Shape, Is.EqualTo(new Shape(2, q)));
    }

    [Test]
    public void AugmentationsApplyInTrainingOnly()
    {
        Rng.Seed(7);
        var aug = new ZeroShotAugmentation { RandomTokens = 3, WordVectorNoiseStd = 0.2 };
        using var head = Small(DType.F32, 0, aug);
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn([2, 5, C]);
        var words = Tensor.Randn([4, Word]);

        head.Eval();
        Assert.That(head.ExtraQueries, Is.Zero);
        var e1 = head.Forward(x, words);
        Assert.That(e1.Shape, Is.EqualTo(new Shape(2, 4)), "no random tokens in eval");
        Assert.That(head.Forward(x, words).ToDoubles(), Is.EqualTo(e1.ToDoubles()), "no noise in eval");

        head.Train();
        Assert.That(head.ExtraQueries, Is.EqualTo(3));
        var t1 = head.Forward(x, words);
        Assert.That(t1.Shape, Is.EqualTo(new Shape(2, 7)), "random-token queries appended in training");
        var t2 = head.Forward(x, words);
        // Dropout is 0 here: the only difference between the two training forwards and eval is the noise.
        Assert.That(F.Slice(t1, 1, 0, 4).ToDoubles(), Is.Not.EqualTo(e1.ToDoubles()), "word-vector noise in training");
        Assert.That(F.Slice(t2, 1, 0, 4).ToDoubles(), Is.Not.EqualTo(F.Slice(t1, 1, 0, 4).ToDoubles()), "fresh noise per forward");

        var targets = head.ExtendTargets(Tensor.Ones([2, 4]));
        Assert.That(targets.Shape, Is.EqualTo(new Shape(2, 7)));
        Assert.That(targets.ToDoubles(), Is.EqualTo(new double[] { 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0 }));

        // Without noise, training and eval agree on the real queries (dropout 0): the random tokens
        // are extra queries that do not interact with the others (no self-attention).
        head.Augmentation = aug with { WordVectorNoiseStd = 0 };
        Approx.Equal(e1.ToDoubles(), F.Slice(head.Forward(x, words), 1, 0, 4), 1e-5, 1e-6, "random tokens leave real logits alone");
    }

    [Test]
    public void BadWordVectorsAreRejected()
    {
        using var head = Small(DType.F32);
        using var scope = TensorScope.Begin();
        var ex = Assert.Throws<ArgumentException>(() => head.Forward(Tensor.Randn([2, 5, C]), Tensor.Randn([4, Word + 1])));
        Assert.That(ex!.Message, Does.Contain("ZeroShotMlDecoderHead").And.Contain("[4, 11]"));
    }
}
