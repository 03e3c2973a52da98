using Kernels.Ops.Layout;

namespace Kernels.SelfTesting;

internal static class LayoutCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        AxisCopyShape[] copies =
        [
            new(1, 1, 1, 1, 0, 0, 1),
            new(3, 7, 5, 4, 2, 1, 3),
            new(2, 9, 9, 1, 0, 0, 9),
            new(1, 4, 11, 13, 0, 7, 4),
        ];
        foreach (var s in copies)
        {
            var x = r.Uniform(s.Outer * s.XAxis * s.Inner);
            // y's window outside the copy stays poisoned in both runs (NaN = NaN counts as equal).
            yield return SelfTestCase.Of<ILayout>($"axis-copy [{s.Outer},{s.XAxis},{s.Inner}]@{s.XStart}→[{s.Outer},{s.YAxis},{s.Inner}]@{s.YStart} len={s.Length}",
                (k, io) => k.AxisCopy(s, io.In(x), io.Out("y", s.Outer * s.YAxis * s.Inner)));
        }

        PadShape[] pads =
        [
            new(new Shape(1), new Shape(3), [1]),
            new(new Shape(2, 3, 5), new Shape(3, 6, 8), [1, 2, 0]),
            new(new Shape(1, 2, 7, 9), new Shape(1, 2, 10, 12), [0, 0, 2, 1]),
        ];
        foreach (var s in pads)
        {
            var x = r.Uniform(s.Small.Numel);
            var big = r.Uniform(s.Large.Numel);
            yield return SelfTestCase.Of<ILayout>($"pad {s.Small}→{s.Large}", (k, io) =>
                k.Pad(s, 0.5, io.In(x), io.Out("y", s.Large.Numel)));
            yield return SelfTestCase.Of<ILayout>($"crop {s.Large}→{s.Small}", (k, io) =>
                k.Crop(s, io.In(big), io.Out("y", s.Small.Numel)));
        }

        (int[] Shape, int[] Axes)[] perms = [([7, 9], [1, 0]), ([2, 3, 4, 5], [2, 0, 3, 1]), ([1, 5, 1, 3], [3, 2, 1, 0]), ([3, 5, 7], [0, 2, 1])];
        foreach (var (shape, axes) in perms)
        {
            var s = new Shape(shape);
            var x = r.Uniform(s.Numel);
            var ints = r.Ints(s.Numel, -100, 100);
            yield return SelfTestCase.Of<ILayout>($"permute {s} by [{string.Join(',', axes)}]", (k, io) =>
                k.Permute(s, axes, io.In(x), io.Out("y", s.Numel)));
            yield return SelfTestCase.Of<ILayout>($"permute int32 {s} by [{string.Join(',', axes)}]", (k, io) =>
                k.Permute(s, axes, io.Int(ints), io.IntOut("y", s.Numel)));
        }

        GatherShape[] gathers = [new(new Shape(4, 6), new Shape(3, 5), 1), new(new Shape(5, 3, 4), new Shape(7, 3, 2), 0), new(new Shape(1), new Shape(1), 0)];
        foreach (var s in gathers)
        {
            var x = r.Uniform(s.X.Numel);
            var idx = r.Ints(s.Index.Numel, 0, s.X[s.Axis]);
            var dy = r.Uniform(s.Index.Numel);
            yield return SelfTestCase.Of<ILayout>($"gather {s.X} axis {s.Axis} index {s.Index}", (k, io) =>
                k.Gather(s, io.In(x), io.Int(idx), io.Out("y", s.Index.Numel)));
            yield return SelfTestCase.Of<ILayout>($"gather-backward {s.X} axis {s.Axis} index {s.Index}", (k, io) =>
                k.GatherBackward(s, io.Int(idx), io.In(dy), io.Out("dx", s.X.Numel)));
        }

        IndexSelectShape[] selects = [new(2, 7, 5, 3), new(1, 4, 9, 1), new(3, 1, 1, 1)];
        foreach (var s in selects)
        {
            var x = r.Uniform(s.Outer * s.XAxis * s.Inner);
            var idx = r.Ints(s.Count, 0, s.XAxis); // repeats: IndexAdd sums them
            var dy = r.Uniform(s.Outer * s.Count * s.Inner);
            string d = $"[{s.Outer},{s.XAxis},{s.Inner}] count={s.Count}";
            yield return SelfTestCase.Of<ILayout>($"index-select {d}", (k, io) =>
                k.IndexSelect(s, io.In(x), io.Int(idx), io.Out("y", s.Outer * s.Count * s.Inner)));
            yield return SelfTestCase.Of<ILayout>($"index-add {d}", (k, io) =>
                k.IndexAdd(s, io.Int(idx), io.In(dy), io.Out("dx", s.Outer * s.XAxis * s.Inner)));
        }

        var good = r.Ints(37, 0, 10);
        var bad = (int[])good.Clone();
        bad[23] = 10;
        bad[30] = -1;
        yield return SelfTestCase.Of<ILayout>("find-bad-index n=37 valid", (k, io) => io.Value("position", k.FindBadIndex(37, io.Int(good), 10)));
        yield return SelfTestCase.Of<ILayout>("find-bad-index n=37 two bad", (k, io) => io.Value("position", k.FindBadIndex(37, io.Int(bad), 10)));
    }
}
