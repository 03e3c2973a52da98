using Kernels.Nets;
using Kernels.Ops.Activation;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Ops;

public class ActivationTests
{
    private static readonly (string Name, ActivationKind Kind, double Alpha)[] Cases =
    [
        ("relu", ActivationKind.Relu, 0), ("leaky_relu", ActivationKind.LeakyRelu, 0.1),
        ("gelu", ActivationKind.Gelu, 0), ("sigmoid", ActivationKind.Sigmoid, 0), ("tanh", ActivationKind.Tanh, 0),
    ];

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void ForwardAndBackwardMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("activation");
        double tol = dtype == DType.F32 ? 1e-5 : 1e-12;
        foreach (var (name, kind, alpha) in Cases)
        {
            var x = v.Tensor("x", dtype);
            x.RequiresGrad = true;
            var y = F.Activation(kind, x, alpha);
            Approx.Equal(v.Doubles(name), y, tol, tol, name);
            y.Backward(v.Tensor("g", dtype));
            Approx.Equal(v.Doubles(name + ".dx"), x.Grad!, tol, tol, name + " backward");
        }
    }

    [Test]
    public void GradientsMatchCentralDifferences()
    {
        foreach (var (name, kind, alpha) in Cases)
        {
            // Keep inputs away from the kinks of relu / leaky relu, where differences are undefined.
            var x = GradCheck.Input([3, 7, 5], -3, 3);
            var host = x.ToDoubles().Select(d => Math.Abs(d) < 1e-3 ? d + 0.01 : d).ToArray();
            x.Device.Upload<double>(host, x.Buffer);
            GradCheck.Check(t => F.Activation(kind, t[0], alpha), [x], what: name);
        }
    }
}
