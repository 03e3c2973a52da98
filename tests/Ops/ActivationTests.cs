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

    /// <summary>ReLU and leaky ReLU gradients are selected a vector at a time with a scalar tail;
    /// every element (NaN, ±0, ±∞, either sign, in the vector body and the tail) must get
    /// x &gt; 0 ? g : slope·g exactly.</summary>
    [TestCase(DType.F32), TestCase(DType.F64)]
    public void RectifierGradientsAreExactSelections(DType dtype)
    {
        const int n = 1000 + 3; // not a multiple of any vector width
        var rng = new Random(5);
        var special = new[] { double.NaN, 0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, 1e-30, -1e-30 };
        var xs = new double[n];
        var gs = new double[n];
        for (int i = 0; i < n; i++)
        {
            xs[i] = i % 11 == 0 ? special[i / 11 % special.Length] : rng.NextDouble() * 4 - 2;
            gs[i] = rng.NextDouble() * 4 - 2;
        }
        foreach (var (kind, slope) in new[] { (ActivationKind.Relu, 0.0), (ActivationKind.LeakyRelu, 0.1) })
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.FromArray(xs, [n]).To(dtype);
            x.RequiresGrad = true;
            var g = Tensor.FromArray(gs, [n]).To(dtype);
            var y = F.Activation(kind, x, slope);
            y.Backward(g);
            var dx = x.Grad!.ToDoubles();
            var gr = g.ToDoubles();
            var xr = x.ToDoubles();
            double typedSlope = dtype == DType.F32 ? (float)slope : slope;
            for (int i = 0; i < n; i++)
            {
                double expected = xr[i] > 0 ? gr[i] : kind == ActivationKind.Relu ? 0.0 : Round(dtype, typedSlope * gr[i]);
                Assert.That(dx[i], Is.EqualTo(expected), $"{kind} {dtype} element {i} (x = {xr[i]})");
            }
        }
    }

    private static double Round(DType dtype, double v) => dtype == DType.F32 ? (float)v : v;

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
