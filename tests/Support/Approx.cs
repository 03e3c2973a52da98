using Kernels.Nets;

namespace Kernels.Tests.Support;

public static class Approx
{
    /// <summary>Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise; the message shows
    /// the worst element.</summary>
    public static void Equal(double[] expected, double[] actual, double rtol = 1e-5, double atol = 1e-6, string what = "")
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), $"{what}: length");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if ((double.IsNaN(e) && double.IsNaN(a)) || a == e) continue;
            double excess = Math.Abs(a - e) - (atol + rtol * Math.Abs(e));
            if (double.IsNaN(a) || double.IsNaN(excess) || excess > worstExcess || (double.IsInfinity(e) && a != e))
            {
                if (worst < 0 || double.IsNaN(excess) || excess > worstExcess) { worst = i; worstExcess = double.IsNaN(excess) ? double.PositiveInfinity : excess; }
            }
        }
        if (worst >= 0)
            Assert.Fail($"{what}: element {worst} is {actual[worst]:G9}, expected {expected[worst]:G9} (rtol {rtol}, atol {atol})");
    }

    public static void Equal(double[] expected, Tensor actual, double rtol = 1e-5, double atol = 1e-6, string what = "") =>
        Equal(expected, actual.ToDoubles(), rtol, atol, what);

    public static void Equal(Tensor expected, Tensor actual, double rtol = 1e-5, double atol = 1e-6, string what = "")
    {
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), $"{what}: shape");
        Equal(expected.ToDoubles(), actual.ToDoubles(), rtol, atol, what);
    }
}
