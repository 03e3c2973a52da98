using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Autograd;

public class AutogradTests
{
    [Test]
    public void GradientsAccumulateAcrossBackwardCalls()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0, 3.0 }, [3]);
        x.RequiresGrad = true;
        for (int i = 0; i < 2; i++)
        {
            var y = F.Mul(x, x); // dy/dx = 2x
            y.Backward(Tensor.Ones([3], DType.F64));
        }
        Assert.That(x.Grad!.ToDoubles(), Is.EqualTo(new[] { 4.0, 8.0, 12.0 }));
    }

    [Test]
    public void ReusedInputGetsTheSumOfBothPaths()
    {
        var x = GradCheck.Input([4, 3]);
        GradCheck.Check(t => F.Add(F.Mul(t[0], t[0]), F.Exp(t[0])), [x], what: "x*x + exp(x)");
        var y = GradCheck.Input([4, 3], seed: 3);
        GradCheck.Check(t => F.Add(t[0], t[0]), [y], what: "x + x");
    }

    [Test]
    public void NoGradScopeRecordsNothing()
    {
        var x = GradCheck.Input([3]);
        Tensor y;
        using (Nets.Autograd.NoGrad()) y = F.Exp(x);
        Assert.That(y.RequiresGrad, Is.False);
        Assert.That(y.IsLeaf, Is.True);
    }

    [Test]
    public void DetachCutsTheGraphAndSharesStorage()
    {
        var x = GradCheck.Input([3]);
        var y = F.Exp(x);
        var d = y.Detach();
        Assert.That(d.RequiresGrad, Is.False);
        Assert.That(d.Buffer, Is.SameAs(y.Buffer));
        var z = F.Mul(d, x);
        z.Backward(Tensor.Ones([3], DType.F64));
        Approx.Equal(y.ToDoubles(), x.Grad!, 1e-15, 0, "grad through the detached factor only");
    }

    [Test]
    public void GraphIsFreedAfterBackward()
    {
        var x = GradCheck.Input([3]);
        var y = F.Exp(F.Exp(x));
        y.Backward(Tensor.Ones([3], DType.F64));
        Assert.That(y.IsLeaf, Is.True, "the node is dropped after backward");
        Assert.Throws<InvalidOperationException>(() => y.Backward(Tensor.Ones([3], DType.F64)));
    }

    [Test]
    public void NonScalarBackwardWithoutGradientIsAClearError()
    {
        var x = GradCheck.Input([3]);
        var ex = Assert.Throws<InvalidOperationException>(() => F.Exp(x).Backward());
        Assert.That(ex!.Message, Does.Contain("not a scalar"));
    }

    [Test]
    public void ReshapeIsAViewWithAGradient()
    {
        var x = GradCheck.Input([2, 6]);
        GradCheck.Check(t => F.Exp(t[0].Reshape(3, -1)), [x], what: "reshape");
        Assert.Throws<ArgumentException>(() => x.Reshape(5, -1));
    }

    [Test]
    public void ScopeReleasesEverythingButWhatIsKept()
    {
        long tensors = TensorStats.LiveTensors, bytes = TensorStats.LiveBytes;
        Tensor kept;
        using (TensorScope.Begin())
        {
            var a = Tensor.Ones([100]);
            var b = F.Exp(a);
            kept = TensorScope.Keep(F.Add(a, b));
        }
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(tensors + 1));
        Assert.That(TensorStats.LiveBytes, Is.EqualTo(bytes + 400));
        kept.Dispose();
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(tensors));
        Assert.That(TensorStats.LiveBytes, Is.EqualTo(bytes));
    }
}
