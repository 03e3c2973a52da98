using Kernels.Nets;
using Kernels.Nets.Data;

namespace Kernels.Tests.Data;

public class MultiLabelDataTests
{
    [Test]
    public void SyntheticValidationSliceIsTheFixedSet()
    {
        IMultiLabelData data = new SyntheticMultiLabel(classes: 7, size: 16) { ValidationImages = 10, ValidationSeed = 99 };
        var all = new SyntheticMultiLabel(classes: 7, size: 16).Generate(10, new Rng(99));
        var slice = data.ValidationBatch(3, 4);
        int plane = 3 * 16 * 16;
        Assert.That(slice.Count, Is.EqualTo(4));
        Assert.That(slice.Images, Is.EqualTo(all.Images.AsSpan(3 * plane, 4 * plane).ToArray()));
        Assert.That(slice.Targets, Is.EqualTo(all.Targets.AsSpan(3 * 7, 4 * 7).ToArray()));
        Assert.That(data.ValidationTargets(chunk: 3), Is.EqualTo(all.Targets));
        Assert.That(data.ValidationBatch(3, 4).Images, Is.EqualTo(slice.Images), "same slice twice");
        Assert.Throws<ArgumentOutOfRangeException>(() => data.ValidationBatch(8, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.ValidationBatch(-1, 2));
        Assert.That(data.ClassNames, Has.Count.EqualTo(7));
        Assert.That(data.ImageSize, Is.EqualTo(16));
    }

    [Test]
    public void SyntheticTrainBatchFollowsTheRng()
    {
        IMultiLabelData data = new SyntheticMultiLabel(classes: 5, size: 16);
        var a = data.TrainBatch(3, new Rng(4));
        var b = data.TrainBatch(3, new Rng(4));
        Assert.That(b.Images, Is.EqualTo(a.Images));
        using var scope = TensorScope.Begin();
        var (x, y) = a.ToTensors();
        Assert.That(x.Shape.ToArray(), Is.EqualTo(new[] { 3, 3, 16, 16 }));
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { 3, 5 }));
    }
}
