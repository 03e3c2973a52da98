using Kernels.Nets;
using Kernels.Nets.Data;
using Kernels.Nets.Models.MlDecoder;

namespace Kernels.Tests.Data;

public class ZeroShotTrainingTests
{
    private static ZeroShotTraining Setup(int randomTokens = 0)
    {
        var data = new SyntheticMultiLabel(classes: 6, size: 32);
        var wv = SyntheticWordVectors.Create(6, dim: 12);
        var split = ZeroShotSplit.Parse(new StringReader($"{data.ClassNames[4]}\n{data.ClassNames[1]}\n"), "test", data.ClassNames);
        return new ZeroShotTraining(wv, data.ClassNames, split, new ZeroShotAugmentation { RandomTokens = randomTokens });
    }

    private static readonly MlDecoderSpec s_spec = new("tiny-tresnet", "ml-decoder", 6, -1, 16, 2, 24, 32);

    [Test]
    public void TrainingQueriesTheSeenClassesAndEvaluationAll()
    {
        using var scope = TensorScope.Begin();
        var z = Setup(randomTokens: 3);
        Assert.That(z.Split.Seen, Is.EqualTo(new[] { 0, 2, 3, 5 }));
        using var model = z.Build(s_spec, Device.Cpu);
        Assert.That(model.Head, Is.TypeOf<ZeroShotMlDecoderHead>());
        var x = Tensor.Randn([2, 3, 32, 32]);
        model.Train();
        z.UseSeen(model);
        Assert.That(model.Forward(x).Shape, Is.EqualTo(new Shape(2, 4 + 3)), "seen queries and random tokens");
        var y = Tensor.FromArray(new float[] { 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1 }, [2, 6]);
        var t = z.TrainTargets(model, y);
        Assert.That(t.Shape, Is.EqualTo(new Shape(2, 7)));
        // Seen columns 0, 2, 3, 5, then three zeros; the unseen labels (columns 1 and 4) are gone.
        Assert.That(t.ToFloats(), Is.EqualTo(new float[] { 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0 }));
        model.Eval();
        z.UseAll(model);
        Assert.That(model.Forward(x).Shape, Is.EqualTo(new Shape(2, 6)));
        Assert.That(model.Classes, Is.EqualTo(6));
    }

    [Test]
    public void EvaluateReportsZslOverTheUnseenColumns()
    {
        var z = Setup();
        using var model = z.Build(s_spec, Device.Cpu);
        var data = new SyntheticMultiLabel(classes: 6, size: 32) { ValidationImages = 10 };
        var r = z.Evaluate(model, data, Device.Cpu, "check");
        Assert.That(r.Zsl.Columns, Is.EqualTo(2));
        Assert.That(r.Gzsl.Columns, Is.EqualTo(6));
        Assert.That(r.Images, Is.EqualTo(10));
        Assert.That(z.Reports, Has.Count.EqualTo(1));
        Assert.That(z.Reports[0].Label, Is.EqualTo("check"));
        Assert.That(ZeroShotTraining.Summary("check", r), Does.StartWith("check: ZSL mAP"));
    }

    [Test]
    public void MissingVectorsAndWrongSourcesAreRefused()
    {
        var names = new SyntheticMultiLabel(classes: 3).ClassNames;
        var wv = WordVectors.Create("two words", ["red_disc", "green_square"], new float[] { 1, 0, 0, 1 });
        var split = ZeroShotSplit.Parse(new StringReader(names[2]), "t", names);
        var e = Assert.Throws<InvalidDataException>(() => _ = new ZeroShotTraining(wv, names, split))!;
        Assert.That(e.Message, Does.Contain(names[2]));
        var dir = Directory.CreateTempSubdirectory("zs-").FullName;
        try
        {
            var coco = CocoMultiLabel.Load(CocoFixture.Write(dir), 16);
            var e2 = Assert.Throws<ArgumentException>(() => ZeroShotTraining.FromOptions("synthetic", null, coco, new ZeroShotAugmentation(), null))!;
            Assert.That(e2.Message, Does.Contain("--data synthetic"));
            var file = Path.Combine(dir, "v.txt");
            File.WriteAllText(file, "disc 1 0\nsquare 0 1\nbar 1 1\n");
            var e3 = Assert.Throws<ArgumentException>(() => ZeroShotTraining.FromOptions(file, null, coco, new ZeroShotAugmentation(), null))!;
            Assert.That(e3.Message, Does.Contain("--unseen"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
