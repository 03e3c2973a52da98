using Kernels.Nets;
using Kernels.Nets.Metrics;
using Kernels.Tests.Support;
using M = Kernels.Nets.Metrics.MultiLabelMetrics;

namespace Kernels.Tests.Metrics;

public class MultiLabelMetricsTests
{
    private static readonly string[] s_cases = ["plain", "ties", "wide"];

    private static (float[] S, float[] Y, int N, int C) Load(VectorFile v, string tag)
    {
        var shape = v.Shape(tag + ".scores");
        return (v.Doubles(tag + ".scores").Select(d => (float)d).ToArray(), v.Doubles(tag + ".targets").Select(d => (float)d).ToArray(), shape[0], shape[1]);
    }

    [TestCaseSource(nameof(s_cases))]
    public void MapMatchesNumpyReference(string tag)
    {
        var v = new VectorFile("metrics");
        var (s, y, n, c) = Load(v, tag);
        var r = M.MeanAveragePrecision(s, y, n, c);
        Approx.Equal(v.Doubles(tag + ".ap"), r.PerClassAp, 1e-12, 1e-12, tag + " per-class AP");
        var map = v.Doubles(tag + ".map");
        Assert.That(r.Map, Is.EqualTo(map[0]).Within(1e-10), tag + " mAP");
        Assert.That(r.MapOverClassesWithPositives, Is.EqualTo(map[1]).Within(1e-10), tag + " mAP over classes with positives");
    }

    [TestCaseSource(nameof(s_cases))]
    public void ThresholdAndTopKMatchNumpyReference(string tag)
    {
        var v = new VectorFile("metrics");
        var (s, y, n, c) = Load(v, tag);
        var t = M.AtThreshold(s, y, n, c, (float)v.Doubles(tag + ".threshold")[0]);
        Approx.Equal(v.Doubles(tag + ".thr"),
            new[] { t.CP, t.CR, t.CF1, t.OP, t.OR, t.OF1, t.MeanClassF1, t.TruePositives, t.PredictedPositives, t.Positives },
            1e-10, 1e-10, tag + " threshold metrics");
        foreach (int k in new[] { 3, 5 })
        {
            var r = M.TopK(s, y, n, c, k);
            Approx.Equal(v.Doubles($"{tag}.top{k}"), new[] { r.Precision, r.Recall, r.F1, r.Hits, r.Predictions, r.Positives }, 1e-10, 1e-10, $"{tag} top-{k}");
        }
    }

    [TestCaseSource(nameof(s_cases))]
    public void ZslAndGzslMatchNumpyReference(string tag)
    {
        var v = new VectorFile("metrics");
        var (s, y, n, c) = Load(v, tag);
        static double[] Flat(ZeroShotMetrics z) =>
            [z.Map.Map, z.Map.MapOverClassesWithPositives, z.At3.Precision, z.At3.Recall, z.At3.F1, z.At5.Precision, z.At5.Recall, z.At5.F1];
        var zsl = M.Zsl(s, y, n, c, v.Ints(tag + ".unseen"));
        Approx.Equal(v.Doubles(tag + ".zsl"), Flat(zsl), 1e-10, 1e-10, tag + " ZSL");
        Assert.That(zsl.Columns, Is.EqualTo(v.Shape(tag + ".unseen")[0]));
        Approx.Equal(v.Doubles(tag + ".gzsl"), Flat(M.Gzsl(s, y, n, c)), 1e-10, 1e-10, tag + " GZSL");
    }

    [Test]
    public void PerfectRankingGives100()
    {
        // 6 images, 3 classes; every positive outscores every negative of its class.
        float[] y = [1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1];
        var s = y.Select((t, i) => t > 0 ? 0.6f + 0.01f * i : 0.4f - 0.01f * i).ToArray();
        var r = M.MeanAveragePrecision(s, y, 6, 3);
        Assert.That(r.Map, Is.EqualTo(100.0).Within(1e-12));
        Assert.That(r.PerClassAp, Is.All.EqualTo(1.0).Within(1e-12));
        var t = M.AtThreshold(s, y, 6, 3, 0.5f);
        Assert.That(new[] { t.CP, t.CR, t.CF1, t.OP, t.OR, t.OF1 }, Is.All.EqualTo(100.0).Within(1e-12));
    }

    [Test]
    public void HandComputedExample()
    {
        // Class 0, ranked by score: + - + - +  -> precision at the positives 1/1, 2/3, 3/5;
        // AP = (1 + 2/3 + 3/5) / 3 = 34/45 = 0.755...; class 1 has no positive -> AP 0.
        // mAP = 100 * (34/45 + 0) / 2 = 37.77...; over classes with positives: 75.55...
        // Images are given out of rank order to make the sort do work.
        float[] s = [0.7f, 0.1f, 0.9f, 0.3f, 0.5f, 0.2f, 0.6f, 0.4f, 0.8f, 0.5f];
        float[] y = [1, 0, 1, 0, 1, 0, 0, 0, 0, 0];
        var r = M.MeanAveragePrecision(s, y, 5, 2);
        Assert.That(r.PerClassAp[0], Is.EqualTo(34.0 / 45).Within(1e-15));
        Assert.That(r.PerClassAp[1], Is.EqualTo(0.0));
        Assert.That(r.Positives, Is.EqualTo(new[] { 3, 0 }));
        Assert.That(r.Map, Is.EqualTo(100 * 17.0 / 45).Within(1e-12));
        Assert.That(r.MapOverClassesWithPositives, Is.EqualTo(100 * 34.0 / 45).Within(1e-12));
        Assert.That(r.ClassesWithPositives, Is.EqualTo(1));
    }

    [Test]
    public void TiesAreOneStepAndOrderIndependent()
    {
        // All four scores equal, two positives: one step, precision 2/4 at both -> AP 0.5
        // (a stable sort would give 1.0 or 5/12 depending on the image order).
        Assert.That(M.MeanAveragePrecision([0.5f, 0.5f, 0.5f, 0.5f], [1, 0, 1, 0], 4, 1).PerClassAp[0], Is.EqualTo(0.5).Within(1e-15));
        // 0.9(-) then {0.5(+), 0.5(-)} then 0.1(+): 1 * 1/3 + 1 * 2/4, over 2 positives.
        Assert.That(M.MeanAveragePrecision([0.5f, 0.9f, 0.1f, 0.5f], [1, 0, 1, 0], 4, 1).PerClassAp[0], Is.EqualTo((1.0 / 3 + 0.5) / 2).Within(1e-15));

        var rng = new Rng(5);
        int n = 50, c = 4;
        var s = new float[n * c];
        var y = new float[n * c];
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = rng.NextInt(4) * 0.25f;
            y[i] = rng.NextInt(3) - 1;
        }
        var baseMap = M.MeanAveragePrecision(s, y, n, c);
        var perm = Enumerable.Range(0, n).ToArray();
        rng.Shuffle<int>(perm);
        var s2 = new float[n * c];
        var y2 = new float[n * c];
        for (int i = 0; i < n; i++)
        {
            Array.Copy(s, perm[i] * c, s2, i * c, c);
            Array.Copy(y, perm[i] * c, y2, i * c, c);
        }
        Assert.That(M.MeanAveragePrecision(s2, y2, n, c).PerClassAp, Is.EqualTo(baseMap.PerClassAp).Within(1e-14));
    }

    [Test]
    public void UnknownTargetsAreLeftOut()
    {
        // Marking an entry -1 must equal deleting that image from that class.
        float[] s = [0.9f, 0.8f, 0.7f, 0.6f];
        float[] withUnknown = [0, -1, 1, 1];
        var a = M.MeanAveragePrecision(s, withUnknown, 4, 1).PerClassAp[0];
        var b = M.MeanAveragePrecision([0.9f, 0.7f, 0.6f], [0, 1, 1], 3, 1).PerClassAp[0];
        Assert.That(a, Is.EqualTo(b).Within(1e-15));
        Assert.That(a, Is.EqualTo((1.0 / 2 + 2.0 / 3) / 2).Within(1e-15));
        // A -1 on a high score must not count as a predicted positive either.
        var t = M.AtThreshold(s, withUnknown, 4, 1, 0.5f);
        Assert.That((t.PredictedPositives, t.TruePositives, t.Positives), Is.EqualTo((3L, 2L, 2L)));
    }

    [Test]
    public void ThresholdHandExample()
    {
        // 3 images x 2 classes, threshold 0.5.
        // class 0: pred {i0, i1}, positives {i0, i2} -> tp 1, P 1/2, R 1/2
        // class 1: pred {i2},     positives {i2}     -> tp 1, P 1,   R 1
        // CP = 3/4, CR = 3/4, CF1 = 3/4; OP = 2/3, OR = 2/3; mean class F1 = (1/2 + 1)/2 = 3/4.
        float[] s = [0.9f, 0.1f, 0.5f, 0.2f, 0.3f, 0.8f];
        float[] y = [1, 0, 0, 0, 1, 1];
        var t = M.AtThreshold(s, y, 3, 2, 0.5f);
        Assert.That(t.CP, Is.EqualTo(75.0).Within(1e-12));
        Assert.That(t.CR, Is.EqualTo(75.0).Within(1e-12));
        Assert.That(t.CF1, Is.EqualTo(75.0).Within(1e-12));
        Assert.That(t.OP, Is.EqualTo(200.0 / 3).Within(1e-12));
        Assert.That(t.OR, Is.EqualTo(200.0 / 3).Within(1e-12));
        Assert.That(t.OF1, Is.EqualTo(200.0 / 3).Within(1e-12));
        Assert.That(t.MeanClassF1, Is.EqualTo(75.0).Within(1e-12));
    }

    [Test]
    public void TopKHandExample()
    {
        // Image 0: scores 0.9 0.5 0.5 0.5 0.1, positives {3, 4}: top-3 = {0, 1, 2} (ties -> lower
        // class first): 0 hits. Top-5 = all: 2 hits. Image 1: class 2 unknown, positives {0}:
        // top-3 of the 4 known = {0 (0.8), 1 (0.7), 3 (0.6)}: 1 hit.
        float[] s = [0.9f, 0.5f, 0.5f, 0.5f, 0.1f, 0.8f, 0.7f, 0.95f, 0.6f, 0.2f];
        float[] y = [0, 0, 0, 1, 1, 1, 0, -1, 0, 0];
        var r3 = M.TopK(s, y, 2, 5, 3);
        Assert.That((r3.Hits, r3.Predictions, r3.Positives), Is.EqualTo((1L, 6L, 3L)));
        Assert.That(r3.Precision, Is.EqualTo(100.0 / 6).Within(1e-12));
        Assert.That(r3.Recall, Is.EqualTo(100.0 / 3).Within(1e-12));
        Assert.That(r3.F1, Is.EqualTo(2 * (1.0 / 6) * (1.0 / 3) / (1.0 / 6 + 1.0 / 3) * 100).Within(1e-12));
        var r5 = M.TopK(s, y, 2, 5, 5);
        Assert.That((r5.Hits, r5.Predictions, r5.Positives), Is.EqualTo((3L, 9L, 3L)), "image 1 has only 4 known classes");
        var all = M.Evaluate(s, y, 2, 5);
        Assert.That(all.At3, Is.EqualTo(r3));
        Assert.That(all.At5, Is.EqualTo(r5));
    }

    [Test]
    public void BadInputIsNamed()
    {
        var ex = Assert.Throws<ArgumentException>(() => M.MeanAveragePrecision(new float[6], new float[5], 2, 3))!;
        Assert.That(ex.Message, Does.Contain("MeanAveragePrecision").And.Contain("targets has 5 values").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => M.AtThreshold(new float[5], new float[6], 2, 3))!;
        Assert.That(ex.Message, Does.Contain("scores has 5 values"));
        var s = new float[6];
        s[5] = float.NaN;
        ex = Assert.Throws<ArgumentException>(() => M.TopK(s, new float[6], 2, 3, 3))!;
        Assert.That(ex.Message, Does.Contain("image 1, class 2 is NaN"));
        var y = new float[6];
        y[1] = 0.5f;
        ex = Assert.Throws<ArgumentException>(() => M.MeanAveragePrecision(new float[6], y, 2, 3))!;
        Assert.That(ex.Message, Does.Contain("image 0, class 1 is 0.5"));
        Assert.Throws<ArgumentOutOfRangeException>(() => M.TopK(new float[6], new float[6], 2, 3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => M.Zsl(new float[6], new float[6], 2, 3, [3]));
        Assert.Throws<ArgumentException>(() => M.Zsl(new float[6], new float[6], 2, 3, [1, 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => M.MeanAveragePrecision([], [], 0, 3));
    }

    [Test]
    public void TensorOverloadMatchesSpans()
    {
        float[] s = [0.9f, 0.1f, 0.5f, 0.2f, 0.3f, 0.8f];
        float[] y = [1, 0, 0, 0, 1, 1];
        using var scope = TensorScope.Begin();
        var r = M.Evaluate(Tensor.FromArray(s, [3, 2]), Tensor.FromArray(y, [3, 2]));
        var e = M.Evaluate(s, y, 3, 2);
        Assert.That(r.Map.Map, Is.EqualTo(e.Map.Map));
        Assert.That(r.Threshold, Is.EqualTo(e.Threshold));
        Assert.That(r.At3, Is.EqualTo(e.At3));
        var ex = Assert.Throws<ArgumentException>(() => M.Evaluate(Tensor.FromArray(s, [3, 2]), Tensor.FromArray(y, [2, 3])))!;
        Assert.That(ex.Message, Does.Contain("Evaluate").And.Contain("[3, 2]").And.Contain("[2, 3]"));
    }

    [Test]
    public void InfiniteScoresRankAtTheEnds()
    {
        float[] s = [float.NegativeInfinity, float.PositiveInfinity, 0f];
        float[] y = [0, 1, 0];
        Assert.That(M.MeanAveragePrecision(s, y, 3, 1).Map, Is.EqualTo(100.0));
    }
}
