using Kernels.Nets;

namespace Kernels.Tests.Support;

/// <summary>Checks an op's backward against float64 central differences. The op runs in float64;
/// its output is projected onto fixed random weights so one backward pass covers every output.</summary>
public static class GradCheck
{
    /// <param name="f">the op under test, over float64 inputs</param>
    /// <param name="inputs">float64 inputs; those with RequiresGrad are checked</param>
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-6, double rtol = 1e-5,
        double atol = 1e-7, string what = "")
    {
        foreach (var t in inputs)
            Assert.That(t.DType, Is.EqualTo(DType.F64), "gradient checks run in float64");
        using var scope = TensorScope.Begin();
        var rng = new Rng(12345);
        foreach (var t in inputs)
            if (t.RequiresGrad) { t.Grad?.Dispose(); t.Grad = null; }

        var y = f(inputs);
        var weights = new double[y.Numel];
        rng.FillUniform(weights, -1, 1);
        var w = Tensor.FromArray(weights, y.Shape);
        y.Backward(w);

        for (int i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i];
            if (!x.RequiresGrad) continue;
            Assert.That(x.Grad, Is.Not.Null, $"{what}: input {i} got no gradient");
            var analytic = x.Grad!.ToDoubles();
            var numeric = new double[x.Numel];
            var data = x.ToDoubles();
            for (int j = 0; j < data.Length; j++)
            {
                double keep = data[j];
                data[j] = keep + eps;
                double up = Project(f, inputs, i, data, weights);
                data[j] = keep - eps;
                double down = Project(f, inputs, i, data, weights);
                data[j] = keep;
                numeric[j] = (up - down) / (2 * eps);
            }
            x.Device.Upload<double>(data, x.Buffer);
            Approx.Equal(numeric, analytic, rtol, atol, $"{what}: d/d input {i}");
        }
    }

    private static double Project(Func<Tensor[], Tensor> f, Tensor[] inputs, int which, double[] data, double[] weights)
    {
        inputs[which].Device.Upload<double>(data, inputs[which].Buffer);
        using var _ = Nets.Autograd.NoGrad();
        using var scope = TensorScope.Begin();
        var y = f(inputs).ToDoubles();
        double s = 0;
        for (int k = 0; k < y.Length; k++) s += y[k] * weights[k];
        return s;
    }

    /// <summary>A float64 leaf with values uniform in [low, high).</summary>
    public static Tensor Input(Shape shape, double low = -1, double high = 1, ulong seed = 7)
    {
        var host = new double[shape.Numel];
        new Rng(seed).FillUniform(host, low, high);
        var t = Tensor.FromArray(host, shape);
        t.RequiresGrad = true;
        return t;
    }
}
