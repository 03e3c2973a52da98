using Kernels.Nets;
using Kernels.Nets.Models.Backbones;
using Kernels.Nets.Models.MlDecoder;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Models;

/// <summary>ResNet and TinyTResNet trunks, the GAP head and the classifier wrapper; a short
/// training run on the cpu for both heads.</summary>
public class BackboneTests
{
    [Test]
    public void ResNet18ParameterCountMatchesTorchvision()
    {
        using var net = ResNet.ResNet18();
        using var fc = new Linear(512, 1000);
        Assert.That(net.OutChannels, Is.EqualTo(512));
        Assert.That(net.ParameterCount() + fc.ParameterCount(), Is.EqualTo(11_689_512L));
        var names = net.StateDict().Keys.ToList();
        // torchvision's names (minus fc), so its checkpoints load.
        Assert.That(names, Does.Contain("conv1.weight").And.Contain("bn1.running_var").And.Contain("layer1.1.conv2.weight")
            .And.Contain("layer2.0.downsample.0.weight").And.Contain("layer4.1.bn2.num_batches_tracked"));
        Assert.That(names, Has.No.Member("layer1.0.downsample.0.weight"));
        Assert.That(names, Has.Count.EqualTo(122 - 2), "torchvision resnet18 has 122 state entries with fc");
    }

    [Test]
    public void ResNet50ParameterCountMatchesTorchvision()
    {
        using var net = ResNet.ResNet50();
        using var fc = new Linear(2048, 1000);
        Assert.That(net.OutChannels, Is.EqualTo(2048));
        Assert.That(net.ParameterCount() + fc.ParameterCount(), Is.EqualTo(25_557_032L));
        Assert.That(net.StateDict().Keys, Does.Contain("layer1.0.downsample.1.weight").And.Contain("layer3.5.conv3.weight"));
    }

    [Test]
    public void FeatureMapShapes()
    {
        Rng.Seed(8);
        using var scope = TensorScope.Begin();
        using var r18 = ResNet.ResNet18(0.25);
        Assert.That(r18.Forward(Tensor.Randn([2, 3, 64, 64])).Shape, Is.EqualTo(new Shape(2, 128, 2, 2)));
        using var r50 = ResNet.ResNet50(0.125);
        Assert.That(r50.Forward(Tensor.Randn([2, 3, 64, 64])).Shape, Is.EqualTo(new Shape(2, 256, 2, 2)));
        using var tiny = new TinyTResNet();
        Assert.That(tiny.Stride, Is.EqualTo(16));
        Assert.That(tiny.Forward(Tensor.Randn([2, 3, 32, 48])).Shape, Is.EqualTo(new Shape(2, 128, 2, 3)));
    }

    [Test]
    public void SpaceToDepthMovesPixelBlocksToChannels()
    {
        using var scope = TensorScope.Begin();
        const int b = 2, c = 3, h = 4, w = 8, bs = 2;
        var src = Enumerable.Range(0, b * c * h * w).Select(i => (double)i).ToArray();
        var y = TinyTResNet.SpaceToDepth(Tensor.FromHost(src, [b, c, h, w], DType.F64), bs).ToDoubles();
        int ho = h / bs, wo = w / bs, co = c * bs * bs;
        for (int n = 0; n < b; n++)
            for (int dy = 0; dy < bs; dy++)
                for (int dx = 0; dx < bs; dx++)
                    for (int ch = 0; ch < c; ch++)
                        for (int i = 0; i < ho; i++)
                            for (int j = 0; j < wo; j++)
                            {
                                int oc = (dy * bs + dx) * c + ch;
                                double expect = src[((n * c + ch) * h + i * bs + dy) * w + j * bs + dx];
                                Assert.That(y[((n * co + oc) * ho + i) * wo + j], Is.EqualTo(expect));
                            }
    }

    [Test]
    public void ClassifierFlattensTokensForTheMlDecoderHead()
    {
        Rng.Seed(9);
        using var scope = TensorScope.Begin();
        using var model = new MultiLabelClassifier(new TinyTResNet([8, 16], [1, 1]), new MlDecoderHead(16, 5, embedDim: 16, heads: 2, feedForward: 32));
        model.Eval();
        var x = Tensor.Randn([2, 3, 16, 24]);
        var y = model.Forward(x);
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 5)));
        var tokens = ClassifierHead.ToTokens(model.Body.Forward(x));
        Assert.That(tokens.Shape, Is.EqualTo(new Shape(2, 2 * 3, 16)));
        Assert.That(model.Head.Forward(tokens).ToDoubles(), Is.EqualTo(y.ToDoubles()));
        Assert.That(model.StateDict().Keys, Does.Contain("head.query_embed.weight").And.Contain("body.layer2.0.downsample.0.weight"));

        using var gap = new GapHead(16, 5);
        var fmap = Tensor.Randn([2, 16, 3, 3]);
        Assert.That(gap.Forward(fmap).Shape, Is.EqualTo(new Shape(2, 5)));
        Assert.That(gap.Forward(ClassifierHead.ToTokens(fmap)).ToDoubles(),
            Is.EqualTo(gap.Forward(fmap).ToDoubles()).Within(1e-5), "tokens and feature map give the same pooled logits");
    }

    [TestCase("ml-decoder")]
    [TestCase("gap")]
    public void TrainingStepsDecreaseBceOnTheCpu(string headKind)
    {
        Rng.Seed(10);
        const int classes = 6;
        ClassifierHead head = headKind == "gap"
            ? new GapHead(16, classes)
            : new MlDecoderHead(16, classes, groups: 3, embedDim: 16, heads: 2, feedForward: 32);
        using var model = new MultiLabelClassifier(new TinyTResNet([8, 16], [1, 1]), head);
        using var opt = new Adam(ParamGroup.DecayAndNoDecay(model, 1e-4), lr: 3e-3);
        using var x = Tensor.Randn([8, 3, 16, 16]);
        using var targets = Tensor.FromHost(Enumerable.Range(0, 8 * classes).Select(i => (i * 7 % 5) < 2 ? 1.0 : 0.0).ToArray(), [8, classes]);
        var losses = new List<double>();
        for (int step = 0; step < 12; step++)
        {
            using var scope = TensorScope.Begin();
            var loss = F.BinaryCrossEntropyWithLogits(model.Forward(x), targets);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            losses.Add(loss.Item());
        }
        TestContext.Out.WriteLine($"{headKind} BCE per step: {string.Join(", ", losses.Select(l => l.ToString("F4")))}");
        Assert.That(losses.All(double.IsFinite), Is.True, string.Join(", ", losses));
        Assert.That(losses[^1], Is.LessThan(losses[0] * 0.8), $"{headKind}: {string.Join(", ", losses.Select(l => l.ToString("F4")))}");
    }
}
