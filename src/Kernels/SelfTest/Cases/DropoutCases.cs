using Kernels.Ops.Dropout;

namespace Kernels.SelfTesting;

/// <summary>Dropout is checked against the documented mask rule (<see cref="DropoutMask"/>),
/// computed on the host: the mask must not depend on the device or the implementation.</summary>
internal static class DropoutCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        long[] lengths = sizes == SelfTestSizes.Full ? [1, 37, 1029, 100_003] : [1, 37, 1029];
        foreach (var p in new[] { 0.0, 0.1, 0.5, 0.9 })
            foreach (var n in lengths)
            {
                var x = r.Uniform(n);
                ulong seed = r.Seed64();
                yield return new SelfTestCase($"p={p} n={n} seed={seed:x}",
                    (impl, io) => ((IDropout)impl).Apply(n, p, seed, io.In(x), io.Out("y", n)),
                    Expected: () => [Rule(n, p, seed, x)]);
            }
    }

    private static double[] Rule(long n, double p, ulong seed, double[] x)
    {
        var (a, b) = DropoutMask.Keys(seed);
        uint threshold = DropoutMask.Threshold(p);
        double scale = 1.0 / (1.0 - p);
        var y = new double[n];
        for (long i = 0; i < n; i++) y[i] = DropoutMask.Keep(a, b, (uint)i, threshold) ? x[i] * scale : 0;
        return y;
    }
}
