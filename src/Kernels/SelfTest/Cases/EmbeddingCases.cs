using Kernels.Ops.Embedding;

namespace Kernels.SelfTesting;

internal static class EmbeddingCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        (long N, int V, int D)[] shapes = sizes == SelfTestSizes.Full
            ? [(1, 1, 1), (7, 11, 5), (33, 9, 17), (1000, 301, 67)]
            : [(1, 1, 1), (7, 11, 5), (33, 9, 17)];
        foreach (var (n, v, d) in shapes)
        {
            var s = new EmbeddingShape(n, v, d);
            var idx = r.Ints(n, 0, v); // repeats on purpose: the backward must sum them
            var w = r.Uniform((long)v * d);
            var dy = r.Uniform(n * d);
            yield return SelfTestCase.Of<IEmbedding>($"N={n} V={v} D={d} forward", (k, io) =>
                k.Forward(s, io.Int(idx), io.In(w), io.Out("y", n * d)));
            yield return SelfTestCase.Of<IEmbedding>($"N={n} V={v} D={d} backward-weight", (k, io) =>
                k.BackwardWeight(s, io.Int(idx), io.In(dy), io.Out("dweight", (long)v * d)));
        }
    }
}
