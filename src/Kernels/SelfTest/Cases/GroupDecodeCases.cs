using Kernels.Ops.AsymmetricLoss;
using Kernels.Ops.GroupDecode;

namespace Kernels.SelfTesting;

internal static class GroupDecodeCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        // (batch, groups, dim, classes): batch 1, one group, classes not a multiple of the groups
        // (padding columns), dims not multiples of 32.
        var shapes = new List<GroupDecodeShape>
        {
            GroupDecodeShape.Create(1, 1, 1, 1),
            GroupDecodeShape.Create(1, 3, 5, 7),
            GroupDecodeShape.Create(3, 4, 37, 13),
            GroupDecodeShape.Create(5, 7, 19, 45),
            GroupDecodeShape.Create(2, 9, 5, 300), // more than 256 classes: two loss tiles per image
            GroupDecodeShape.Create(11, 2, 3, 5), // more loss tiles than the emulator's 8 blocks: the tile loop wraps
            // g >= 8: the native per-group GEMMs (64×64 tiles, 16-deep steps) with no edge aligned, the last
            // group 11 columns short; batch 1; more groups than the emulator's 8 z-blocks (the group loop wraps).
            new(5, 3, 70, 37, 3 * 37 - 11),
            new(1, 2, 17, 9, 17),
            new(3, 10, 6, 8, 75),
        };
        if (sizes == SelfTestSizes.Full) shapes.Add(GroupDecodeShape.Create(16, 100, 96, 997));
        foreach (var s in shapes)
        {
            long nx = (long)s.Batch * s.Groups * s.Dim, nw = (long)s.Groups * s.Dim * s.PerGroup;
            long ny = (long)s.Batch * s.Classes;
            var x = r.Uniform(nx, -1, 1);
            var w = r.Uniform(nw, -1, 1);
            var bias = r.Uniform(s.Classes, -1, 1);
            var dy = r.Uniform(ny);
            string d = $"[B={s.Batch} K={s.Groups} D={s.Dim} g={s.PerGroup} N={s.Classes}]";
            foreach (bool withBias in new[] { true, false })
                yield return SelfTestCase.Of<IGroupDecode>($"{d}{(withBias ? " bias" : "")} forward+backward", (k, io) =>
                {
                    var xb = io.In(x);
                    var wb = io.In(w);
                    k.Forward(s, xb, wb, withBias ? io.In(bias) : null, io.Out("y", ny));
                    k.Backward(s, xb, wb, io.In(dy), io.Out("dx", nx), io.Out("dw", nw), withBias ? io.Out("dbias", s.Classes) : null);
                });
            yield return SelfTestCase.Of<IGroupDecode>($"{d} backward dw only", (k, io) =>
                k.Backward(s, io.In(x), io.In(w), io.In(dy), null, io.Out("dw", nw), null));

            // Targets 1 / 0 / −1 with about 10 % positives; logits spread by scaling x.
            var targets = new double[ny];
            var labels = r.Ints(ny, 0, 10);
            for (long i = 0; i < ny; i++) targets[i] = labels[i] == 0 ? 1 : labels[i] == 1 ? -1 : 0;
            var mask = r.Uniform(ny, 0, 2);
            for (long i = 0; i < ny; i++) if (labels[i] == 2) mask[i] = 0;
            var opts = new[]
            {
                (Name: "recipe sum", O: AslOptions.Recipe, Weighted: false),
                (Name: "γ+=1 mean weighted grad-through-focus",
                    O: new AslOptions(GammaPos: 1, GammaNeg: 2, Clip: 0.1, FocusingWeightConstant: false, Mean: true,
                        AlphaPos: 0.7, AlphaNeg: 1.3, GammaUnannotated: 1, AlphaUnannotated: 0.5), Weighted: true),
            };
            foreach (var (name, o, weighted) in opts)
                yield return SelfTestCase.Of<IGroupDecode>($"{d} asl {name}", (k, io) =>
                {
                    k.ForwardAsl(s, o, io.In(x), io.In(w), io.In(bias), io.In(targets), weighted ? io.In(mask) : null,
                        io.Out("loss", 1), io.Out("dx", nx), io.Out("dw", nw), io.Out("dbias", s.Classes));
                });
            yield return SelfTestCase.Of<IGroupDecode>($"{d} asl loss only, no bias", (k, io) =>
                k.ForwardAsl(s, AslOptions.Recipe, io.In(x), io.In(w), null, io.In(targets), null, io.Out("loss", 1),
                    null, null, null));
        }
    }
}
