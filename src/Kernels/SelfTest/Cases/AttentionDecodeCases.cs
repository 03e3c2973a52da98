using Kernels.Ops.AttentionDecode;

namespace Kernels.SelfTesting;

/// <summary>Attention decoding: forward (o and the pre-dropout probs) and backward (dq, dk, dv,
/// fed the probs of the same implementation's forward). Sizes are awkward on every axis (batch 1,
/// head dims 7 / 33 / 128, token counts past one 256-thread block), one case with dropout.</summary>
internal static class AttentionDecodeCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        (int B, int K, int T, int H, int Hd, double P)[] shapes = sizes == SelfTestSizes.Full
            ? [(1, 3, 5, 1, 7, 0), (2, 3, 5, 3, 33, 0), (1, 2, 9, 1, 128, 0), (1, 4, 300, 2, 7, 0),
               (2, 5, 37, 2, 33, 0.1), (2, 20, 1029, 2, 128, 0.1)]
            : [(1, 3, 5, 1, 7, 0), (2, 3, 5, 3, 33, 0), (1, 2, 9, 1, 128, 0), (1, 4, 300, 2, 7, 0),
               (2, 5, 37, 2, 33, 0.1)];
        foreach (var (b, nq, nt, h, hd, p) in shapes)
        {
            var s = AttentionDecodeShape.Create(b, nq, nt, h, hd, p, p > 0 ? r.Seed64() : 0);
            long qn = (long)b * nq * s.Dim, kn = (long)b * nt * s.Dim;
            var q = r.Uniform(qn);
            var k = r.Uniform(kn);
            var v = r.Uniform(kn);
            var g = r.Uniform(qn);
            yield return SelfTestCase.Of<IAttentionDecode>(
                $"B={b} K={nq} T={nt} heads={h} hd={hd} p={p} seed={s.Seed:x} forward+backward", (impl, io) =>
                {
                    DeviceBuffer qb = io.In(q), kb = io.In(k), vb = io.In(v);
                    var probs = io.Out("probs", s.ProbsLength);
                    impl.Forward(s, qb, kb, vb, io.Out("o", qn), probs);
                    impl.Backward(s, qb, kb, vb, probs, io.In(g), io.Out("dq", qn), io.Out("dk", kn), io.Out("dv", kn));
                });
        }
        {
            // Inference: no probs buffer.
            var s = AttentionDecodeShape.Create(2, 3, 11, 2, 5);
            long qn = (long)s.Batch * s.Queries * s.Dim, kn = (long)s.Batch * s.Tokens * s.Dim;
            var q = r.Uniform(qn);
            var k = r.Uniform(kn);
            var v = r.Uniform(kn);
            yield return SelfTestCase.Of<IAttentionDecode>("B=2 K=3 T=11 heads=2 hd=5 forward without probs",
                (impl, io) => impl.Forward(s, io.In(q), io.In(k), io.In(v), io.Out("o", qn), null));
        }
    }
}
