using Kernels.Ops.Reduce;

namespace Kernels.SelfTesting;

internal static class ReduceCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        (long O, int R, long I)[] shapes = sizes == SelfTestSizes.Full
            ? [(1, 1, 1), (3, 7, 5), (1, 1029, 1), (5, 33, 1), (1, 3, 37), (2, 100_003, 1), (7, 129, 65)]
            : [(1, 1, 1), (3, 7, 5), (1, 1029, 1), (5, 33, 1), (1, 3, 37)];
        foreach (var (o, red, i) in shapes)
        {
            var s = new ReduceShape(o, red, i);
            var x = r.Uniform(s.InputNumel);
            var dy = r.Uniform(s.OutputNumel);
            string d = $"[{o},{red},{i}]";
            double tol = red >= 512 ? SelfTestCase.Fp32LongReduction : SelfTestCase.Fp32Tolerance;
            yield return SelfTestCase.Of<IReduce>($"sum {d}", (k, io) =>
                k.Sum(s, 0.37, io.In(x), io.Out("y", s.OutputNumel)), tol);
            yield return SelfTestCase.Of<IReduce>($"max {d}", (k, io) =>
                k.Max(s, io.In(x), io.Out("values", s.OutputNumel), io.IntOut("indices", s.OutputNumel)));
            yield return SelfTestCase.Of<IReduce>($"max-backward {d}", (k, io) =>
                k.MaxBackward(s, io.In(x), io.In(dy), io.Out("dx", s.InputNumel)));
            var kept = new Shape(checked((int)o), 1, checked((int)i));
            var full = new Shape(checked((int)o), red, checked((int)i));
            yield return SelfTestCase.Of<IReduce>($"expand {kept}→{full}", (k, io) =>
                k.Expand(kept, full, 0.37, io.In(dy), io.Out("dx", full.Numel)));
        }
        var zero = new ReduceShape(3, 0, 2);
        yield return SelfTestCase.Of<IReduce>("sum [3,0,2]", (k, io) => k.Sum(zero, 0.5, io.In([]), io.Out("y", 6)));
    }
}
