using Kernels.Ops.Gemm;

namespace Kernels.SelfTesting;

internal static class GemmCases
{
    public static IEnumerable<SelfTestCase> Build(CaseRandom r, SelfTestSizes sizes)
    {
        var shapes = new List<GemmShape>
        {
            new(1, 1, 1),
            new(7, 5, 3),
            new(33, 17, 65, TransA: true),
            new(13, 29, 31, TransB: true),
            new(9, 11, 19, TransA: true, TransB: true),
            new(5, 9, 600),
            new(6, 7, 10, Lda: 13, Ldb: 9, Ldc: 8), // strided views of larger matrices
            new(5, 3, 7, Batch: 3, StrideA: 35, StrideB: 21, StrideC: 15),
            new(3, 4, 5, OffsetA: 2, OffsetB: 3, OffsetC: 1),
        };
        if (sizes == SelfTestSizes.Full)
        {
            shapes.Add(new GemmShape(129, 65, 257));
            shapes.Add(new GemmShape(100, 100, 1000, TransB: true));
            shapes.Add(new GemmShape(257, 255, 63, TransA: true));
        }
        foreach (var s in shapes)
            foreach (var (alpha, beta) in new[] { (1.0, 0.0), (0.7, 0.3) })
            {
                var a = r.Uniform(s.NeededA);
                var b = r.Uniform(s.NeededB);
                var c0 = r.Uniform(s.NeededC);
                double tol = s.K >= 512 ? SelfTestCase.Fp32LongReduction : SelfTestCase.Fp32Tolerance;
                string t = (s.TransA ? "T" : "N") + (s.TransB ? "T" : "N");
                string extra = (s.Batch > 1 ? $" batch={s.Batch}" : "") + (s.Lda > 0 ? " ld" : "") + (s.OffsetA > 0 ? " offsets" : "");
                yield return SelfTestCase.Of<IGemm>($"{t} M={s.M} N={s.N} K={s.K}{extra} α={alpha} β={beta}", (k, io) =>
                {
                    // β = 0 must ignore C entirely (NaN included), so it starts poisoned then.
                    var c = beta == 0 ? io.Out("c", s.NeededC) : io.InOut("c", c0);
                    k.Gemm(s, alpha, io.In(a), io.In(b), beta, c);
                }, tol);
            }
    }
}
