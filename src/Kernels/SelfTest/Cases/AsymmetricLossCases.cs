using Kernels.Ops.AsymmetricLoss;

namespace Kernels.SelfTesting;

internal static class AsymmetricLossCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        var shapes = new List<(long Rows, long Cols)> { (1, 1), (1, 37), (7, 29), (5, 67) };
        if (sizes == SelfTestSizes.Full) shapes.Add((33, 1001));
        var options = new (string Name, AslOptions O)[]
        {
            ("recipe", AslOptions.Recipe),
            ("recipe focusing-grad", AslOptions.Recipe with { FocusingWeightConstant = false }),
            ("bce γ=0 m=0 mean", new AslOptions(GammaPos: 0, GammaNeg: 0, Clip: 0, Mean: true)),
            ("focal γ=2 focusing-grad", new AslOptions(GammaPos: 2, GammaNeg: 2, Clip: 0, FocusingWeightConstant: false)),
            ("partial γ+=1 γ−=3 γu=0.5 m=0 α", new AslOptions(GammaPos: 1, GammaNeg: 3, Clip: 0, FocusingWeightConstant: false,
                AlphaPos: 1.5, AlphaNeg: 0.7, GammaUnannotated: 0.5, AlphaUnannotated: 0.3)),
            ("partial ignore mean", new AslOptions(GammaPos: 0, GammaNeg: 1, Clip: 0.1, Mean: true, AlphaUnannotated: 0)),
        };
        for (int si = 0; si < shapes.Count; si++)
            for (int oi = 0; oi < options.Length; oi++)
            {
                var (rows, cols) = shapes[si];
                var (name, o) = options[oi];
                long n = rows * cols;
                var logits = r.Uniform(n, -6, 6);
                // Extreme logits: a float32 kernel must stay finite (no exp overflow, no log(0)).
                double[] extreme = [1e4, -1e4, 88, -88, 0, 30, -30];
                for (long i = 0; i < n; i += 3) logits[i] = extreme[(i / 3) % extreme.Length];
                var targets = r.Ints(n, -1, 2).Select(t => (double)t).ToArray();
                if (n > 1) targets[0] = 1;
                bool weighted = ((si + oi) & 1) == 1; // each option both with and without weights
                var w = r.Uniform(n, 0, 2);
                for (long i = 1; i < n; i += 4) w[i] = 0; // zero weights: excluded from the mean's count
                string d = $"asl [{rows},{cols}] {name}{(weighted ? " weights" : "")}";
                yield return SelfTestCase.Of<IAsymmetricLoss>($"{d} loss+grad", (kk, io) =>
                    kk.ForwardBackward(rows, cols, o, io.In(logits), io.In(targets), weighted ? io.In(w) : null,
                        io.Out("loss", 1), io.Out("dlogits", n)));
                if (rows * cols == 37 && o.Mean)
                    yield return SelfTestCase.Of<IAsymmetricLoss>($"{d} loss only", (kk, io) =>
                        kk.ForwardBackward(rows, cols, o, io.In(logits), io.In(targets), weighted ? io.In(w) : null,
                            io.Out("loss", 1), null));
            }
    }
}
