using Kernels.Ops.Optim;

namespace Kernels.SelfTesting;

internal static class OptimizerUpdateCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        long[] lengths = sizes == SelfTestSizes.Full ? [1, 37, 1029, 100_003] : [1, 37, 1029];
        SgdStep[] sgds =
        [
            new(0.1, 0, 0, 0, false, false),
            new(0.05, 0.9, 0, 1e-2, false, true),
            new(0.05, 0.9, 0.1, 1e-2, false, false),
            new(0.05, 0.9, 0, 0, true, false, Maximize: true),
        ];
        AdamStep[] adams =
        [
            new(1e-3, 0.9, 0.999, 1e-8, 0, false, 1),
            new(1e-2, 0.8, 0.99, 1e-6, 1e-2, false, 7),
            new(1e-2, 0.9, 0.999, 1e-8, 1e-1, true, 3, Maximize: true),
        ];
        foreach (var n in lengths)
        {
            foreach (var st in sgds)
            {
                var p = r.Uniform(n);
                var g = r.Uniform(n);
                var m = r.Uniform(n);
                yield return SelfTestCase.Of<IOptimizerUpdate>(
                    $"sgd n={n} lr={st.Lr} momentum={st.Momentum} dampening={st.Dampening} wd={st.WeightDecay}{(st.Nesterov ? " nesterov" : "")}{(st.FirstStep ? " first" : "")}{(st.Maximize ? " maximize" : "")}",
                    (k, io) => k.Sgd(st, n, io.InOut("param", p), io.In(g), st.Momentum != 0 ? io.InOut("momentum", m) : null));
            }
            foreach (var st in adams)
            {
                var p = r.Uniform(n);
                var g = r.Uniform(n);
                var m = r.Uniform(n, -0.1, 0.1);
                var v = r.Uniform(n, 0, 0.1);
                yield return SelfTestCase.Of<IOptimizerUpdate>(
                    $"{(st.Decoupled ? "adamw" : "adam")} n={n} lr={st.Lr} wd={st.WeightDecay} step={st.Step}{(st.Maximize ? " maximize" : "")}",
                    (k, io) => k.Adam(st, n, io.InOut("param", p), io.In(g), io.InOut("exp-avg", m), io.InOut("exp-avg-sq", v)));
            }
        }
    }
}
