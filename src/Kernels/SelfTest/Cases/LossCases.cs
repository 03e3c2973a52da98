using Kernels.Ops.Loss;

namespace Kernels.SelfTesting;

internal static class LossCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        var ce = new List<CrossEntropyShape> { new(1, 1, 1, 0), new(5, 7, 1, 0), new(5, 7, 1, 0.1), new(2, 5, 9, 0.2) };
        if (sizes == SelfTestSizes.Full) ce.Add(new CrossEntropyShape(64, 1000, 1, 0.1));
        foreach (var s in ce)
            foreach (bool weighted in new[] { false, true })
            {
                long rows = s.Rows;
                var logits = r.Uniform(rows * s.Classes, -5, 5);
                var targets = r.Ints(rows, 0, s.Classes);
                if (rows > 2) targets[1] = s.IgnoreIndex; // an ignored row: loss, weight and gradient 0
                var cw = r.Uniform(s.Classes, 0.5, 2);
                var dLoss = r.Uniform(rows);
                string d = $"cross-entropy [{s.Outer},{s.Classes},{s.Inner}] ε={s.LabelSmoothing}{(weighted ? " class-weights" : "")}";
                yield return SelfTestCase.Of<ILoss>($"{d} forward+backward", (k, io) =>
                {
                    var lb = io.In(logits);
                    var tb = io.Int(targets);
                    var wb = weighted ? io.In(cw) : null;
                    var lse = io.Out("logsumexp", rows);
                    k.CrossEntropyForward(s, lb, tb, wb, io.Out("loss", rows), lse, io.Out("target-weight", rows));
                    k.CrossEntropyBackward(s, lb, tb, wb, lse, io.In(dLoss), io.Out("dlogits", rows * s.Classes));
                });
            }

        foreach (var (n, pwLen) in new (long, int)[] { (1, 0), (37, 0), (35, 5), (1029, 1) })
        {
            var logits = r.Uniform(n, -6, 6);
            var targets = r.Uniform(n, 0, 1);
            var pw = r.Uniform(Math.Max(pwLen, 1), 0.5, 3);
            var dLoss = r.Uniform(n);
            string d = $"bce-with-logits n={n}{(pwLen > 0 ? $" pos-weight={pwLen}" : "")}";
            yield return SelfTestCase.Of<ILoss>($"{d} forward+backward", (k, io) =>
            {
                var lb = io.In(logits);
                var tb = io.In(targets);
                var pb = pwLen > 0 ? io.In(pw) : null;
                k.BceWithLogitsForward(n, lb, tb, pb, pwLen, io.Out("loss", n));
                k.BceWithLogitsBackward(n, lb, tb, pb, pwLen, io.In(dLoss), io.Out("dlogits", n), io.Out("dtargets", n));
            });
        }

        foreach (var n in new long[] { 1, 37, 1029 })
        {
            var x = r.Uniform(n);
            var s = r.Uniform(1);
            yield return SelfTestCase.Of<ILoss>($"sum-all n={n}", (k, io) => k.SumAll(n, 1.0 / n, io.In(x), io.Out("y", 1)));
            yield return SelfTestCase.Of<ILoss>($"expand-scalar n={n}", (k, io) => k.ExpandScalar(0.3, io.In(s), n, io.Out("y", n)));
        }
    }
}
