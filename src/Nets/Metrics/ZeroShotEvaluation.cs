using System.Globalization;
using System.Text;

namespace Kernels.Nets.Metrics;

/// <summary>ZSL and GZSL figures of one evaluation (percent).</summary>
/// <param name="Zsl">Unseen columns only: label-wise mAP and F1@3 / F1@5 with top-k among the unseen classes.</param>
/// <param name="Gzsl">All columns, seen and unseen, competing in one ranking.</param>
/// <param name="ZslImages">Images that took part in ZSL top-k (see <see cref="ZeroShotEvaluation"/>).</param>
/// <param name="GzslImages">Images that took part in GZSL top-k.</param>
public sealed record ZeroShotReport(ZeroShotMetrics Zsl, ZeroShotMetrics Gzsl, int SeenClasses, int UnseenClasses, int Images, int ZslImages, int GzslImages)
{
    /// <summary>A small table: one row per setting, mAP, P/R/F1 at 3 and at 5.</summary>
    public string Format()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"zero-shot: {SeenClasses} seen, {UnseenClasses} unseen classes, {Images} images");
        sb.AppendLine("setting   mAP     P@3    R@3    F1@3   P@5    R@5    F1@5");
        Row(sb, "ZSL", Zsl);
        Row(sb, "GZSL", Gzsl);
        return sb.ToString();
    }

    private static void Row(StringBuilder sb, string name, ZeroShotMetrics m) =>
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"{name,-8} {m.Map.Map,6:0.00} {m.At3.Precision,6:0.00} {m.At3.Recall,6:0.00} {m.At3.F1,6:0.00} {m.At5.Precision,6:0.00} {m.At5.Recall,6:0.00} {m.At5.F1,6:0.00}");
}

/// <summary>Zero-shot evaluation as PAPERS.md sections 1 and 4 describe it: for ZSL only the
/// unseen label columns are scored (mAP label-wise over those classes; each image's top-k taken
/// among them), for GZSL all columns (seen and unseen compete for the top-k). F1@k pools hits,
/// predictions and positives over images (<see cref="MultiLabelMetrics.TopK"/>).
///
/// Which images count for top-k: by default only images with at least one positive among the
/// evaluated columns, the usual protocol of the zero-shot multi-label papers (an image with no
/// unseen label has nothing to find in ZSL and would only add false positives); pass
/// <c>allImagesInTopK</c> to keep every image. mAP always uses every image (an image without
/// positives is a negative in every class's ranking).</summary>
public static class ZeroShotEvaluation
{
    public static ZeroShotReport Evaluate(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes,
        ReadOnlySpan<int> unseen, bool allImagesInTopK = false)
    {
        // MultiLabelMetrics.Zsl checks the arguments (sizes, values, unseen columns) and gives mAP.
        var zslAll = MultiLabelMetrics.Zsl(scores, targets, images, classes, unseen);
        var gzslMap = MultiLabelMetrics.MeanAveragePrecision(scores, targets, images, classes);
        int q = unseen.Length;
        var us = new float[(long)images * q];
        var ut = new float[(long)images * q];
        for (int i = 0; i < images; i++)
            for (int j = 0; j < q; j++)
            {
                us[i * q + j] = scores[i * classes + unseen[j]];
                ut[i * q + j] = targets[i * classes + unseen[j]];
            }
        var (zs, zt, zn) = allImagesInTopK ? (us, ut, images) : WithPositives(us, ut, images, q);
        var (gs, gt, gn) = allImagesInTopK ? (scores.ToArray(), targets.ToArray(), images) : WithPositives(scores.ToArray(), targets.ToArray(), images, classes);
        var zsl = new ZeroShotMetrics(zslAll.Map, TopK(zs, zt, zn, q, 3), TopK(zs, zt, zn, q, 5), q);
        var gzsl = new ZeroShotMetrics(gzslMap, TopK(gs, gt, gn, classes, 3), TopK(gs, gt, gn, classes, 5), classes);
        return new ZeroShotReport(zsl, gzsl, classes - q, q, images, zn, gn);
    }

    /// <summary>Top-k of no image: all counts zero (F1 0), rather than an error.</summary>
    private static TopKMetrics TopK(float[] s, float[] t, int n, int classes, int k) =>
        n == 0 ? new TopKMetrics(k, 0, 0, 0, 0, 0, 0) : MultiLabelMetrics.TopK(s, t, n, classes, k);

    private static (float[] Scores, float[] Targets, int Images) WithPositives(float[] s, float[] t, int images, int classes)
    {
        var keep = new List<int>();
        for (int i = 0; i < images; i++)
            if (t.AsSpan(i * classes, classes).Contains(1f)) keep.Add(i);
        if (keep.Count == images) return (s, t, images);
        var ks = new float[keep.Count * classes];
        var kt = new float[keep.Count * classes];
        for (int r = 0; r < keep.Count; r++)
        {
            s.AsSpan(keep[r] * classes, classes).CopyTo(ks.AsSpan(r * classes, classes));
            t.AsSpan(keep[r] * classes, classes).CopyTo(kt.AsSpan(r * classes, classes));
        }
        return (ks, kt, keep.Count);
    }
}
