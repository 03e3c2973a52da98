using Kernels.Ops.Norm;

namespace Kernels.SelfTesting;

internal static class NormCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        var groups = new List<(string Name, GroupNormShape S)>
        {
            ("layer", new GroupNormShape(1, 1, 1, 1)),
            ("layer", new GroupNormShape(5, 1, 37, 1)),
            // More samples than the parameter-gradient kernel's warps and a partial second tile of 32 columns.
            ("layer", new GroupNormShape(19, 1, 40, 1)),
            ("group", new GroupNormShape(9, 3, 5, 1)),
            ("group", new GroupNormShape(6, 3, 2, 7)),
            ("instance", new GroupNormShape(3, 3, 1, 11)),
            // Chunked path (few long rows): batch 1, G = C, a 3×5×67 volume whose 1005 elements split
            // into chunks of 352 with a short last one.
            ("instance", new GroupNormShape(3, 3, 1, 3 * 5 * 67)),
            // G < C: chunks straddle channel boundaries (335 is not a multiple of 352); batch 2; parameter
            // gradients split by sample only (spatial below two chunks).
            ("group", new GroupNormShape(2, 1, 3, 335)),
            // Parameter gradients split by sample and spatial chunk (7·99 = 693: two chunks of 352, 341).
            ("instance", new GroupNormShape(2, 2, 1, 7 * 99)),
        };
        // Chunked shapes are slow on ilgpu-cpu: the first also runs without affine parameters, these not.
        var affineOnly = new HashSet<GroupNormShape> { new(2, 1, 3, 335), new(2, 2, 1, 7 * 99) };
        if (sizes == SelfTestSizes.Full)
        {
            groups.Add(("group", new GroupNormShape(64, 32, 2, 225)));
            // The 3-D U-Net's first level at a quarter of its volume: 2 samples × 8 channels.
            groups.Add(("instance", new GroupNormShape(16, 8, 1, 32768)));
        }
        foreach (var (name, s) in groups)
            foreach (bool affine in new[] { true, false })
            {
                if (!affine && affineOnly.Contains(s)) continue;
                long n = s.Rows * s.RowLength;
                var x = r.Uniform(n, -3, 3);
                var w = r.Uniform(s.Params, 0.5, 1.5);
                var b = r.Uniform(s.Params);
                var dy = r.Uniform(n);
                string d = $"{name} rows={s.Rows} groups/sample={s.GroupsPerSample} ch/group={s.ChannelsPerGroup} spatial={s.Spatial}{(affine ? " affine" : "")}";
                yield return SelfTestCase.Of<INorm>($"{d} forward+backward", (k, io) =>
                {
                    var xb = io.In(x);
                    var wb = affine ? io.In(w) : null;
                    var mean = io.Out("mean", s.Rows);
                    var rstd = io.Out("rstd", s.Rows);
                    k.GroupForward(s, 1e-5, xb, wb, affine ? io.In(b) : null, io.Out("y", n), mean, rstd);
                    k.GroupBackward(s, xb, wb, mean, rstd, io.In(dy), io.Out("dx", n),
                        affine ? io.Out("dweight", s.Params) : null, affine ? io.Out("dbias", s.Params) : null);
                });
            }

        var batches = new List<BatchNormShape> { new(1, 1, 2), new(2, 3, 7), new(5, 4, 1), new(3, 5, 13), new(2, 3, 37) };
        if (sizes == SelfTestSizes.Full) batches.Add(new BatchNormShape(16, 32, 289));
        foreach (var s in batches)
            foreach (bool training in new[] { true, false })
            {
                long n = (long)s.N * s.C * s.Spatial;
                var x = r.Uniform(n, -3, 3);
                var w = r.Uniform(s.C, 0.5, 1.5);
                var b = r.Uniform(s.C);
                var rm = r.Uniform(s.C, -0.5, 0.5);
                var rv = r.Uniform(s.C, 0.5, 2);
                var dy = r.Uniform(n);
                yield return SelfTestCase.Of<INorm>($"batch N={s.N} C={s.C} spatial={s.Spatial} {(training ? "training" : "inference")} forward+backward", (k, io) =>
                {
                    var xb = io.In(x);
                    var wb = io.In(w);
                    var mean = io.Out("save-mean", s.C);
                    var invStd = io.Out("save-invstd", s.C);
                    var runMean = training ? io.InOut("running-mean", rm) : io.In(rm);
                    var runVar = training ? io.InOut("running-var", rv) : io.In(rv);
                    k.BatchForward(s, training, 0.1, 1e-5, xb, wb, io.In(b), runMean, runVar, io.Out("y", n), mean, invStd);
                    k.BatchBackward(s, training, xb, wb, mean, invStd, io.In(dy), io.Out("dx", n),
                        io.Out("dweight", s.C), io.Out("dbias", s.C));
                });
            }
    }
}
