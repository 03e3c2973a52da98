using Kernels.Nets.Metrics;
using Kernels.Tests.Support;

namespace Kernels.Tests.Metrics;

public class ZeroShotEvaluationTests
{
    // 3 images, 4 classes; unseen columns 1 and 3. Image 2 has no unseen positive.
    private static readonly float[] s_scores =
    [
        0.9f, 0.8f, 0.1f, 0.3f,
        0.2f, 0.4f, 0.7f, 0.25f,
        0.5f, 0.1f, 0.3f, 0.2f,
    ];

    private static readonly float[] s_targets =
    [
        1, 1, 0, 0,
        0, 0, 1, 1,
        1, 0, 0, 0,
    ];

    [Test]
    public void HandComputedSmallCase()
    {
        var r = ZeroShotEvaluation.Evaluate(s_scores, s_targets, 3, 4, [1, 3]);
        // ZSL mAP: class 1 ranks its positive first (AP 1); class 3 ranks 0.3 (neg) above 0.25 (pos): AP 1/2.
        Assert.That(r.Zsl.Map.Map, Is.EqualTo(75).Within(1e-9));
        Assert.That(r.Zsl.Columns, Is.EqualTo(2));
        // ZSL top-k over images 0 and 1 (image 2 has no unseen label): 2 predictions each, 2 hits, 2 positives.
        Assert.That(r.ZslImages, Is.EqualTo(2));
        Assert.That((r.Zsl.At3.Hits, r.Zsl.At3.Predictions, r.Zsl.At3.Positives), Is.EqualTo((2L, 4L, 2L)));
        Assert.That(r.Zsl.At3.F1, Is.EqualTo(200.0 / 3).Within(1e-9));
        Assert.That(r.Zsl.At5.F1, Is.EqualTo(200.0 / 3).Within(1e-9));
        // GZSL mAP: classes 0, 1, 2 perfect, class 3 AP 1/2.
        Assert.That(r.Gzsl.Map.Map, Is.EqualTo(87.5).Within(1e-9));
        // GZSL top-3: hits 2 + 2 + 1 of 9 predictions, 5 positives.
        Assert.That((r.Gzsl.At3.Hits, r.Gzsl.At3.Predictions, r.Gzsl.At3.Positives), Is.EqualTo((5L, 9L, 5L)));
        Assert.That(r.Gzsl.At3.Precision, Is.EqualTo(500.0 / 9).Within(1e-9));
        Assert.That(r.Gzsl.At3.F1, Is.EqualTo(100 * 2 * (5.0 / 9) / (5.0 / 9 + 1)).Within(1e-9));
        // GZSL top-5 (all 4 classes per image): 5 hits of 12.
        Assert.That(r.Gzsl.At5.F1, Is.EqualTo(100 * 2 * (5.0 / 12) / (5.0 / 12 + 1)).Within(1e-9));
        Assert.That((r.SeenClasses, r.UnseenClasses, r.Images, r.GzslImages), Is.EqualTo((2, 2, 3, 3)));
        Assert.That(r.Format(), Does.Contain("ZSL").And.Contain("GZSL").And.Contain("75.00"));
    }

    [Test]
    public void AllImagesInTopKCountsImagesWithoutUnseenLabels()
    {
        var r = ZeroShotEvaluation.Evaluate(s_scores, s_targets, 3, 4, [1, 3], allImagesInTopK: true);
        Assert.That(r.ZslImages, Is.EqualTo(3));
        Assert.That((r.Zsl.At3.Hits, r.Zsl.At3.Predictions), Is.EqualTo((2L, 6L)));
        Assert.That(r.Zsl.At3.F1, Is.EqualTo(50).Within(1e-9));
        Assert.That(r.Zsl.Map.Map, Is.EqualTo(75).Within(1e-9), "mAP does not depend on the option");
        // The same as MultiLabelMetrics.Zsl / Gzsl, which the numpy vectors (scripts/vectors/metrics.py) check.
        var z = MultiLabelMetrics.Zsl(s_scores, s_targets, 3, 4, [1, 3]);
        var g = MultiLabelMetrics.Gzsl(s_scores, s_targets, 3, 4);
        Assert.That(r.Zsl.At3, Is.EqualTo(z.At3));
        Assert.That(r.Zsl.At5, Is.EqualTo(z.At5));
        Assert.That(r.Gzsl.At3, Is.EqualTo(g.At3));
    }

    [Test]
    public void NoImageWithUnseenLabelsGivesZeroTopK()
    {
        float[] t = [1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0];
        var r = ZeroShotEvaluation.Evaluate(s_scores, t, 3, 4, [1, 3]);
        Assert.That(r.ZslImages, Is.Zero);
        Assert.That(r.Zsl.At3.F1, Is.Zero);
        Assert.That(r.Zsl.Map.Map, Is.Zero, "classes without positives count as 0");
    }

    /// <summary>Against numpy (scripts/vectors/zero_shot_metrics.py): sparse labels, ties,
    /// all-negative images and an unseen class with no positive, in both top-k protocols.</summary>
    [TestCase("sparse"), TestCase("ties"), TestCase("empty")]
    public void MatchesTheNumpyReference(string tag)
    {
        var v = new VectorFile("zero_shot_metrics");
        var shape = v.Shape($"{tag}.scores");
        int n = shape[0], c = shape[1];
        var scores = v.Doubles($"{tag}.scores").Select(x => (float)x).ToArray();
        var targets = v.Doubles($"{tag}.targets").Select(x => (float)x).ToArray();
        var unseen = v.Ints($"{tag}.unseen");
        foreach (var (protocol, all) in new[] { ("filtered", false), ("all", true) })
        {
            var r = ZeroShotEvaluation.Evaluate(scores, targets, n, c, unseen, allImagesInTopK: all);
            Check(v.Doubles($"{tag}.{protocol}.zsl"), r.Zsl, r.ZslImages, $"{tag} {protocol} ZSL");
            Check(v.Doubles($"{tag}.{protocol}.gzsl"), r.Gzsl, r.GzslImages, $"{tag} {protocol} GZSL");
        }
    }

    private static void Check(double[] e, ZeroShotMetrics m, int images, string what)
    {
        double[] got = [m.Map.Map, m.At3.Precision, m.At3.Recall, m.At3.F1, m.At5.Precision, m.At5.Recall, m.At5.F1, images];
        Assert.That(got, Is.EqualTo(e).Within(1e-9), what);
    }

    [Test]
    public void BadUnseenColumnsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ZeroShotEvaluation.Evaluate(s_scores, s_targets, 3, 4, [4]));
        Assert.Throws<ArgumentException>(() => ZeroShotEvaluation.Evaluate(s_scores, s_targets, 3, 4, []));
        Assert.Throws<ArgumentException>(() => ZeroShotEvaluation.Evaluate(s_scores, s_targets, 3, 4, [1, 1]));
    }
}
