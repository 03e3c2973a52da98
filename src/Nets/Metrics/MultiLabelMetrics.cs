namespace Kernels.Nets.Metrics;

/// <summary>Per-class average precision and the mean over classes, in percent.</summary>
/// <param name="PerClassAp">AP of each class as a fraction in [0, 1]; 0 for a class with no known positive.</param>
/// <param name="Positives">Known positives (target 1) per class.</param>
/// <param name="Map">100 × mean of <paramref name="PerClassAp"/> over ALL classes, a class with no
/// positive counting as 0 (the reference's figure; PAPERS.md section 1).</param>
/// <param name="MapOverClassesWithPositives">100 × mean over the classes with at least one positive
/// only (NaN when no class has one).</param>
/// <param name="ClassesWithPositives">How many classes have at least one positive.</param>
public sealed record MapResult(double[] PerClassAp, int[] Positives, double Map, double MapOverClassesWithPositives, int ClassesWithPositives);

/// <summary>Metrics at a score threshold (prediction positive iff score ≥ threshold), in percent.
/// CP / CR: per-class precision and recall averaged over all classes (0/0 counts as 0, so a class
/// that is never predicted has precision 0 and a class with no positive has recall 0, the same
/// "empty class counts as 0" rule as mAP). CF1 = 2·CP·CR / (CP + CR), the harmonic mean of the
/// averages as in the usual multi-label tables; <see cref="MeanClassF1"/> is the mean of per-class
/// F1 for those who want that instead. OP / OR / OF1 pool the counts over all classes.</summary>
public sealed record ThresholdMetrics(
    double Threshold, double CP, double CR, double CF1, double OP, double OR, double OF1, double MeanClassF1,
    long TruePositives, long PredictedPositives, long Positives);

/// <summary>Top-k metrics pooled over images, in percent: each image predicts its k highest-scoring
/// known classes (fewer if it has fewer known classes); precision = Σ hits / Σ predictions,
/// recall = Σ hits / Σ positives, F1 their harmonic mean (0 when both are 0).</summary>
public sealed record TopKMetrics(int K, double Precision, double Recall, double F1, long Hits, long Predictions, long Positives);

/// <summary>Zero-shot figures over a set of label columns (ZSL: the unseen ones; GZSL: all).</summary>
public sealed record ZeroShotMetrics(MapResult Map, TopKMetrics At3, TopKMetrics At5, int Columns);

/// <summary>Everything a multi-label evaluation prints: mAP, threshold metrics, F1@3 and F1@5.</summary>
public sealed record MultiLabelReport(MapResult Map, ThresholdMetrics Threshold, TopKMetrics At3, TopKMetrics At5);

/// <summary>Multi-label evaluation exactly as PAPERS.md section 1 defines it. Inputs are row-major
/// scores [images, classes] (logits or probabilities: only their order and the threshold matter)
/// and targets of the same shape holding 1 (positive), 0 (negative) or −1 (unknown: that entry
/// takes part in nothing). All results are in percent except the per-class AP fractions.
///
/// Ties: a group of equal scores within a class is ranked as ONE step. Each positive of the group
/// gets the precision at the group's end, (positives ranked up to and including the group) /
/// (entries ranked up to and including the group). The result depends neither on the image order
/// nor on a sort's stability (the reference's numpy argsort leaves the order of ties to its sort
/// algorithm), and without ties it is exactly Σ over positive ranks i of precision@i / #positives.
/// For top-k, equal scores within an image rank the lower class index first.</summary>
public static class MultiLabelMetrics
{
    /// <summary>Per-class non-interpolated AP and mAP (100 × mean over classes; classes with no
    /// positive count as 0) plus the mean over classes with positives.</summary>
    public static MapResult MeanAveragePrecision(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes)
    {
        Validate(scores, targets, images, classes, "MeanAveragePrecision");
        var ap = new double[classes];
        var positives = new int[classes];
        var keys = new float[images];
        var flags = new byte[images];
        for (int c = 0; c < classes; c++)
        {
            int n = 0;
            for (int i = 0; i < images; i++)
            {
                float t = targets[i * classes + c];
                if (t < 0) continue;
                keys[n] = scores[i * classes + c];
                flags[n] = t > 0 ? (byte)1 : (byte)0;
                n++;
            }
            (ap[c], positives[c]) = ClassAp(keys.AsSpan(0, n), flags.AsSpan(0, n));
        }
        return Summarise(ap, positives);
    }

    /// <summary>CP, CR, CF1, OP, OR, OF1 with prediction = score ≥ <paramref name="threshold"/>
    /// (0.5 for probabilities; pass 0 for logits).</summary>
    public static ThresholdMetrics AtThreshold(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes, float threshold = 0.5f)
    {
        Validate(scores, targets, images, classes, "AtThreshold");
        if (float.IsNaN(threshold)) throw new ArgumentException("MultiLabelMetrics.AtThreshold: threshold is NaN", nameof(threshold));
        var tp = new long[classes];
        var pred = new long[classes];
        var pos = new long[classes];
        for (int i = 0; i < images; i++)
            for (int c = 0; c < classes; c++)
            {
                float t = targets[i * classes + c];
                if (t < 0) continue;
                bool p = scores[i * classes + c] >= threshold, y = t > 0;
                if (p) pred[c]++;
                if (y) pos[c]++;
                if (p && y) tp[c]++;
            }
        double cp = 0, cr = 0, cf1 = 0;
        long sumTp = 0, sumPred = 0, sumPos = 0;
        for (int c = 0; c < classes; c++)
        {
            double pc = Ratio(tp[c], pred[c]), rc = Ratio(tp[c], pos[c]);
            cp += pc;
            cr += rc;
            cf1 += Harmonic(pc, rc);
            sumTp += tp[c];
            sumPred += pred[c];
            sumPos += pos[c];
        }
        cp /= classes;
        cr /= classes;
        cf1 /= classes;
        double op = Ratio(sumTp, sumPred), or = Ratio(sumTp, sumPos);
        return new ThresholdMetrics(threshold, 100 * cp, 100 * cr, 100 * Harmonic(cp, cr), 100 * op, 100 * or, 100 * Harmonic(op, or),
            100 * cf1, sumTp, sumPred, sumPos);
    }

    /// <summary>Precision, recall and F1 of each image's top <paramref name="k"/> known classes, pooled over images.</summary>
    public static TopKMetrics TopK(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes, int k)
    {
        Validate(scores, targets, images, classes, "TopK");
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "MultiLabelMetrics.TopK: k must be positive");
        long hits = 0, predictions = 0, positives = 0;
        var chosen = new int[Math.Min(k, classes)];
        for (int i = 0; i < images; i++)
        {
            var s = scores.Slice(i * classes, classes);
            var t = targets.Slice(i * classes, classes);
            // Insertion into a small sorted list: k is 3 or 5, so this beats sorting each row.
            int m = 0;
            for (int c = 0; c < classes; c++)
            {
                if (t[c] < 0) continue;
                if (t[c] > 0) positives++;
                if (m == chosen.Length && !(s[c] > s[chosen[m - 1]])) continue;
                int j = m == chosen.Length ? m - 1 : m++;
                // Strictly greater moves up: an equal score stays below the earlier (lower) class.
                while (j > 0 && s[c] > s[chosen[j - 1]])
                {
                    chosen[j] = chosen[j - 1];
                    j--;
                }
                chosen[j] = c;
            }
            predictions += m;
            for (int j = 0; j < m; j++)
                if (t[chosen[j]] > 0) hits++;
        }
        double p = Ratio(hits, predictions), r = Ratio(hits, positives);
        return new TopKMetrics(k, 100 * p, 100 * r, 100 * Harmonic(p, r), hits, predictions, positives);
    }

    /// <summary>mAP, threshold metrics, F1@3 and F1@5 in one call.</summary>
    public static MultiLabelReport Evaluate(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes, float threshold = 0.5f) =>
        new(MeanAveragePrecision(scores, targets, images, classes), AtThreshold(scores, targets, images, classes, threshold),
            TopK(scores, targets, images, classes, 3), TopK(scores, targets, images, classes, 5));

    /// <summary>The same from tensors on any device: scores [images, classes] (any float dtype)
    /// and targets of the same shape; both are copied to the host.</summary>
    public static MultiLabelReport Evaluate(Tensor scores, Tensor targets, float threshold = 0.5f)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(targets);
        if (scores.Shape.Rank != 2 || scores.Shape != targets.Shape)
            throw new ArgumentException($"MultiLabelMetrics.Evaluate: scores {scores.Shape} and targets {targets.Shape} must both be [images, classes]");
        return Evaluate(scores.ToFloats(), targets.ToFloats(), scores.Shape[0], scores.Shape[1], threshold);
    }

    /// <summary>Zero-shot (ZSL): label-wise mAP, F1@3 and F1@5 over the <paramref name="unseen"/>
    /// columns only; top-k is taken among those columns.</summary>
    public static ZeroShotMetrics Zsl(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes, ReadOnlySpan<int> unseen)
    {
        Validate(scores, targets, images, classes, "Zsl");
        if (unseen.Length == 0) throw new ArgumentException("MultiLabelMetrics.Zsl: no unseen columns given", nameof(unseen));
        var seen = new bool[classes];
        foreach (int c in unseen)
        {
            if ((uint)c >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(unseen), c, $"MultiLabelMetrics.Zsl: unseen column {c} outside [0, {classes})");
            if (seen[c]) throw new ArgumentException($"MultiLabelMetrics.Zsl: unseen column {c} listed twice", nameof(unseen));
            seen[c] = true;
        }
        int q = unseen.Length;
        var s = new float[(long)images * q];
        var t = new float[(long)images * q];
        for (int i = 0; i < images; i++)
            for (int j = 0; j < q; j++)
            {
                s[i * q + j] = scores[i * classes + unseen[j]];
                t[i * q + j] = targets[i * classes + unseen[j]];
            }
        return ZeroShot(s, t, images, q);
    }

    /// <summary>Generalised zero-shot (GZSL): the same figures over all columns, seen and unseen.</summary>
    public static ZeroShotMetrics Gzsl(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes) =>
        ZeroShot(scores, targets, images, classes);

    private static ZeroShotMetrics ZeroShot(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes) =>
        new(MeanAveragePrecision(scores, targets, images, classes), TopK(scores, targets, images, classes, 3),
            TopK(scores, targets, images, classes, 5), classes);

    /// <summary>AP of one class from its known entries (flags 1 = positive), with the tie rule of the class summary.</summary>
    internal static (double Ap, int Positives) ClassAp(Span<float> keys, Span<byte> flags)
    {
        int n = keys.Length, total = 0;
        foreach (byte f in flags) total += f;
        if (total == 0) return (0, 0);
        keys.Sort(flags); // ascending; walked from the end. Order within a tie group does not matter.
        double sum = 0;
        long ranked = 0, hits = 0;
        int i = n - 1;
        while (i >= 0)
        {
            int j = i, groupHits = 0;
            while (j >= 0 && keys[j] == keys[i])
            {
                groupHits += flags[j];
                j--;
            }
            ranked += i - j;
            hits += groupHits;
            if (groupHits > 0) sum += groupHits * ((double)hits / ranked);
            i = j;
        }
        return (sum / total, total);
    }

    private static MapResult Summarise(double[] ap, int[] positives)
    {
        double all = 0, withPos = 0;
        int count = 0;
        for (int c = 0; c < ap.Length; c++)
        {
            all += ap[c];
            if (positives[c] > 0)
            {
                withPos += ap[c];
                count++;
            }
        }
        return new MapResult(ap, positives, 100 * all / ap.Length, count > 0 ? 100 * withPos / count : double.NaN, count);
    }

    private static double Ratio(long a, long b) => b == 0 ? 0 : (double)a / b;

    private static double Harmonic(double p, double r) => p + r > 0 ? 2 * p * r / (p + r) : 0;

    private static void Validate(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, int images, int classes, string op)
    {
        if (images <= 0) throw new ArgumentOutOfRangeException(nameof(images), images, $"MultiLabelMetrics.{op}: images must be positive");
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"MultiLabelMetrics.{op}: classes must be positive");
        long n = (long)images * classes;
        if (n > int.MaxValue) throw new ArgumentException($"MultiLabelMetrics.{op}: [{images}, {classes}] has more than 2^31 entries");
        if (scores.Length != n)
            throw new ArgumentException($"MultiLabelMetrics.{op}: scores has {scores.Length} values, expected [{images}, {classes}] = {n}", nameof(scores));
        if (targets.Length != n)
            throw new ArgumentException($"MultiLabelMetrics.{op}: targets has {targets.Length} values, expected [{images}, {classes}] = {n}", nameof(targets));
        for (int i = 0; i < images; i++)
            for (int c = 0; c < classes; c++)
            {
                int at = i * classes + c;
                if (float.IsNaN(scores[at]))
                    throw new ArgumentException($"MultiLabelMetrics.{op}: score of image {i}, class {c} is NaN", nameof(scores));
                float t = targets[at];
                if (t != 1f && t != 0f && t != -1f)
                    throw new ArgumentException($"MultiLabelMetrics.{op}: target of image {i}, class {c} is {t}; expected 1, 0 or -1 (unknown)", nameof(targets));
            }
    }
}
