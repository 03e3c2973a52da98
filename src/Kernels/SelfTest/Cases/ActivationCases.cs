using Kernels.Ops.Activation;

namespace Kernels.SelfTesting;

internal static class ActivationCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        long[] lengths = sizes == SelfTestSizes.Full ? [1, 37, 1029, 100_003] : [1, 37, 1029];
        foreach (var kind in Enum.GetValues<ActivationKind>())
            foreach (var n in lengths)
            {
                var x = r.Uniform(n, -4, 4);
                var dy = r.Uniform(n);
                double alpha = kind == ActivationKind.LeakyRelu ? 0.13 : 0;
                yield return SelfTestCase.Of<IActivation>($"{kind} n={n} forward+backward", (k, io) =>
                {
                    var xb = io.In(x);
                    var y = io.Out("y", n);
                    k.Forward(kind, alpha, n, xb, y);
                    k.Backward(kind, alpha, n, xb, y, io.In(dy), io.Out("dx", n));
                });
            }
    }
}
