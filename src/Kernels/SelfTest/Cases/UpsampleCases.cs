using Kernels.Ops.Upsample;

namespace Kernels.SelfTesting;

internal static class UpsampleCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        // N, C, in D H W, out D H W
        var geometries = new List<(int N, int C, int ID, int IH, int IW, int OD, int OH, int OW)>
        {
            (1, 1, 1, 1, 1, 1, 1, 1),
            (1, 3, 1, 1, 7, 1, 1, 13),   // linear (1-D)
            (2, 3, 1, 5, 7, 1, 9, 4),    // up on one axis, down on the other
            (1, 2, 1, 3, 3, 1, 7, 11),
            (1, 2, 3, 4, 5, 5, 7, 6),    // trilinear
        };
        if (sizes == SelfTestSizes.Full) geometries.Add((2, 16, 1, 33, 31, 1, 65, 64));
        foreach (var g in geometries)
            foreach (var (mode, align) in new[] { (UpsampleMode.Nearest, false), (UpsampleMode.Linear, false), (UpsampleMode.Linear, true) })
            {
                var s = new UpsampleShape(g.N, g.C, g.ID, g.IH, g.IW, g.OD, g.OH, g.OW, mode, align);
                var x = r.Uniform(s.Planes * s.InPlane);
                var dy = r.Uniform(s.Planes * s.OutPlane);
                string d = $"{mode}{(align ? " align" : "")} N={g.N} C={g.C} {g.ID}x{g.IH}x{g.IW}→{g.OD}x{g.OH}x{g.OW}";
                yield return SelfTestCase.Of<IUpsample>($"{d} forward", (k, io) =>
                    k.Forward(s, io.In(x), io.Out("y", s.Planes * s.OutPlane)));
                yield return SelfTestCase.Of<IUpsample>($"{d} backward", (k, io) =>
                    k.Backward(s, io.In(dy), io.Out("dx", s.Planes * s.InPlane)));
            }
    }
}
