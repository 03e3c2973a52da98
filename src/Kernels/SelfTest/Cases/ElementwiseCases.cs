using Kernels.Ops.Elementwise;

namespace Kernels.SelfTesting;

internal static class ElementwiseCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        long[] lengths = sizes == SelfTestSizes.Full ? [1, 37, 1029, 100_003] : [1, 37, 1029];
        (int[] A, int[] B)[] broadcasts = sizes == SelfTestSizes.Full
            ? [([37], [37]), ([3, 1, 5], [4, 1]), ([1], [2, 7]), ([2, 3, 1, 9], [1, 3, 5, 1]), ([65, 129], [129])]
            : [([37], [37]), ([3, 1, 5], [4, 1]), ([1], [2, 7]), ([2, 3, 1, 9], [1, 3, 5, 1])];

        foreach (var op in Enum.GetValues<BinaryOp>())
            foreach (var (sa, sb) in broadcasts)
            {
                var s = BroadcastShape.Of("selftest", new Shape(sa), new Shape(sb));
                var a = op == BinaryOp.Pow ? r.Uniform(s.A.Numel, 0.5, 2) : r.Uniform(s.A.Numel);
                var b = op == BinaryOp.Div ? r.AwayFromZero(s.B.Numel) : r.Uniform(s.B.Numel);
                yield return SelfTestCase.Of<IElementwise>($"binary {op} {s.A}x{s.B}", (k, io) =>
                    k.Binary(op, s, io.In(a), io.In(b), io.Out("y", s.Out.Numel)));
            }

        foreach (var op in Enum.GetValues<UnaryOp>())
            foreach (var n in lengths)
            {
                bool positive = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt;
                var x = positive ? r.Uniform(n, 0.25, 4) : op == UnaryOp.Reciprocal ? r.AwayFromZero(n) : r.Uniform(n, -3, 3);
                yield return SelfTestCase.Of<IElementwise>($"unary {op} n={n}", (k, io) =>
                    k.Unary(op, n, io.In(x), io.Out("y", n)));
            }

        foreach (var op in Enum.GetValues<ScalarOp>())
            foreach (var n in lengths)
            {
                var x = op is ScalarOp.Pow ? r.Uniform(n, 0.5, 2) : op is ScalarOp.RDiv ? r.AwayFromZero(n) : r.Uniform(n);
                double scalar = op is ScalarOp.Pow ? 1.7 : -0.6;
                yield return SelfTestCase.Of<IElementwise>($"scalar {op} n={n}", (k, io) =>
                    k.Scalar(op, scalar, n, io.In(x), io.Out("y", n)));
            }

        foreach (var n in lengths)
        {
            var x = r.Uniform(n);
            var y0 = r.Uniform(n);
            var ints = r.Ints(n, -1000, 1000);
            yield return SelfTestCase.Of<IElementwise>($"fill n={n}", (k, io) => k.Fill(-1.25, n, io.Out("y", n)));
            yield return SelfTestCase.Of<IElementwise>($"copy n={n}", (k, io) => k.Copy(n, io.In(x), io.Out("y", n)));
            yield return SelfTestCase.Of<IElementwise>($"axpby n={n}", (k, io) =>
                k.Axpby(0.7, io.In(x), -1.3, n, io.InOut("y", y0)));
            yield return SelfTestCase.Of<IElementwise>($"cast int32 n={n}", (k, io) =>
                k.Cast(n, io.Int(ints), io.Out("y", n)));
        }

        // The last two sum 64 or more elements per output (native: a block per output): a bias
        // gradient's column sums, and two summed axes that do not coalesce.
        (int[] From, int[] To)[] sums = [([3, 4, 5], [4, 1]), ([2, 7], [1]), ([2, 3, 5, 9], [3, 1, 9]), ([6, 11], [6, 11]),
            ([70, 37], [37]), ([10, 5, 8, 3], [5, 1, 3])];
        foreach (var (from, to) in sums)
        {
            var fs = new Shape(from);
            var ts = new Shape(to);
            var x = r.Uniform(fs.Numel);
            yield return SelfTestCase.Of<IElementwise>($"sum-to-shape {fs}→{ts}", (k, io) =>
                k.SumToShape(fs, ts, io.In(x), io.Out("y", ts.Numel)));
        }
    }
}
