using Kernels.Ops.Softmax;

namespace Kernels.SelfTesting;

internal static class SoftmaxCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        (long O, int A, long I)[] shapes = sizes == SelfTestSizes.Full
            ? [(1, 1, 1), (4, 9, 1), (2, 5, 3), (3, 37, 7), (64, 1000, 1), (2, 129, 65)]
            : [(1, 1, 1), (4, 9, 1), (2, 5, 3), (3, 37, 7), (2, 1029, 1)];
        foreach (var (o, a, i) in shapes)
            foreach (var log in new[] { false, true })
            {
                var s = new SoftmaxShape(o, a, i);
                var x = r.Uniform(s.Numel, -6, 6);
                var dy = r.Uniform(s.Numel);
                yield return SelfTestCase.Of<ISoftmax>($"{(log ? "log-" : "")}softmax [{o},{a},{i}] forward+backward", (k, io) =>
                {
                    var y = io.Out("y", s.Numel);
                    k.Forward(s, log, io.In(x), y);
                    k.Backward(s, log, y, io.In(dy), io.Out("dx", s.Numel));
                });
            }
    }
}
