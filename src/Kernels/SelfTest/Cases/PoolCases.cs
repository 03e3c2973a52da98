using Kernels.Ops.Pool;

namespace Kernels.SelfTesting;

internal static class PoolCases
{
    private static PoolShape Shape(int n, int c, int[] input, int[] k, int[] st, int[] p) => new(n, c,
        input[0], input[1], input[2],
        PoolShape.OutSize(input[0], k[0], st[0], p[0]), PoolShape.OutSize(input[1], k[1], st[1], p[1]),
        PoolShape.OutSize(input[2], k[2], st[2], p[2]),
        k[0], k[1], k[2], st[0], st[1], st[2], p[0], p[1], p[2]);

    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        var shapes = new List<PoolShape>
        {
            Shape(1, 1, [1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 0]),
            Shape(1, 3, [1, 7, 9], [1, 3, 3], [1, 2, 2], [0, 1, 1]),
            Shape(2, 3, [1, 6, 5], [1, 2, 2], [1, 2, 2], [0, 0, 0]),
            Shape(1, 2, [1, 9, 37], [1, 2, 2], [1, 2, 2], [0, 0, 0]), // the float32 2×2 path: 8-wide rows and a tail
            Shape(1, 2, [1, 5, 7], [1, 3, 2], [1, 1, 3], [0, 1, 0]),
            Shape(2, 2, [5, 6, 7], [2, 2, 2], [2, 2, 2], [0, 0, 0]),
            Shape(1, 3, [5, 4, 5], [3, 3, 3], [2, 1, 2], [1, 1, 1]),
        };
        if (sizes == SelfTestSizes.Full) shapes.Add(Shape(4, 16, [1, 57, 55], [1, 3, 3], [1, 2, 2], [0, 1, 1]));
        foreach (var s in shapes)
        {
            var x = r.Uniform(s.Planes * s.InPlane);
            var dy = r.Uniform(s.Planes * s.OutPlane);
            string d = $"N={s.N} C={s.C} {s.InD}x{s.InH}x{s.InW} k={s.KD}x{s.KH}x{s.KW} s={s.SD}x{s.SH}x{s.SW} p={s.PD}x{s.PH}x{s.PW}";
            long outN = s.Planes * s.OutPlane, inN = s.Planes * s.InPlane;
            yield return SelfTestCase.Of<IPool>($"max {d} forward+backward", (k, io) =>
            {
                var y = io.Out("y", outN);
                var arg = io.IntOut("argmax", outN);
                k.MaxForward(s, io.In(x), y, arg);
                k.MaxBackward(s, io.In(dy), arg, io.Out("dx", inN));
            });
            yield return SelfTestCase.Of<IPool>($"avg {d} forward", (k, io) => k.AvgForward(s, io.In(x), io.Out("y", outN)));
            yield return SelfTestCase.Of<IPool>($"avg {d} backward", (k, io) => k.AvgBackward(s, io.In(dy), io.Out("dx", inN)));
        }
        foreach (var (planes, size) in new (long, long)[] { (1, 1), (6, 35), (3, 1029) })
        {
            var x = r.Uniform(planes * size);
            var dy = r.Uniform(planes);
            double tol = size >= 512 ? SelfTestCase.Fp32LongReduction : SelfTestCase.Fp32Tolerance;
            yield return SelfTestCase.Of<IPool>($"global-avg planes={planes} size={size} forward", (k, io) =>
                k.GlobalAvgForward(planes, size, io.In(x), io.Out("y", planes)), tol);
            yield return SelfTestCase.Of<IPool>($"global-avg planes={planes} size={size} backward", (k, io) =>
                k.GlobalAvgBackward(planes, size, io.In(dy), io.Out("dx", planes * size)));
        }
    }
}
