namespace Kernels.Nets.Metrics.Lits;

/// <summary>The merge-and-match step of the LiTS lesion detection (PAPERS.md section 7, the scorer's
/// later revision with the listed corrections), from the overlap counts of predicted and reference
/// lesion components.
///
/// Only predictions that overlap some reference lesion take part. Merge: each reference lesion
/// belongs to the prediction it overlaps most (ties: the lower prediction number); the references
/// of one prediction form one group, a reference no prediction touches is a group of its own.
/// Groups are numbered by their lowest reference. Match: each taking-part prediction keeps the
/// group it overlaps most in total (ties: the lower group), and the predictions of one group are
/// merged. The merge and match do not depend on the overlap threshold; only the final test does:
/// a group with predictions is detected when |P ∩ R| / |P ∪ R| exceeds it.</summary>
internal sealed class LesionMatching
{
    private readonly int _predictions;
    private readonly int _takingPart;
    private readonly int[] _groupRefs;       // references per group
    private readonly int[] _groupPreds;      // matched predictions per group
    private readonly long[] _groupInter;     // |P ∩ R| of the merged masks
    private readonly long[] _groupUnion;     // |P ∪ R| of the merged masks

    /// <summary>Group (0-based) of each reference label (index 0 unused).</summary>
    public int[] GroupOfReference { get; }

    /// <summary>Matched group of each predicted label, −1 for one that touches no reference.</summary>
    public int[] GroupOfPrediction { get; }

    public int Groups => _groupRefs.Length;

    /// <param name="overlaps">(prediction label, reference label) → voxels in both.</param>
    /// <param name="predSize">Voxels per predicted label (index 0 unused).</param>
    /// <param name="refSize">Voxels per reference label (index 0 unused).</param>
    public LesionMatching(Dictionary<(int P, int R), long> overlaps, long[] predSize, long[] refSize)
    {
        int nPred = predSize.Length - 1, nRef = refSize.Length - 1;
        _predictions = nPred;

        // Merge: the owner of each reference is its largest-overlap prediction.
        var owner = new int[nRef + 1];
        var ownerOverlap = new long[nRef + 1];
        foreach (var ((p, r), c) in overlaps)
        {
            if (c > ownerOverlap[r] || (c == ownerOverlap[r] && p < owner[r]))
            {
                owner[r] = p;
                ownerOverlap[r] = c;
            }
        }
        GroupOfReference = new int[nRef + 1];
        var groupOfOwner = new int[nPred + 1];
        Array.Fill(groupOfOwner, -1);
        int groups = 0;
        for (int r = 1; r <= nRef; r++)
        {
            int p = owner[r];
            if (p == 0) GroupOfReference[r] = groups++;
            else
            {
                if (groupOfOwner[p] < 0) groupOfOwner[p] = groups++;
                GroupOfReference[r] = groupOfOwner[p];
            }
        }
        _groupRefs = new int[groups];
        var groupRefSize = new long[groups];
        for (int r = 1; r <= nRef; r++)
        {
            _groupRefs[GroupOfReference[r]]++;
            groupRefSize[GroupOfReference[r]] += refSize[r];
        }

        // Match: each prediction's total overlap per group; keep the largest.
        GroupOfPrediction = new int[nPred + 1];
        Array.Fill(GroupOfPrediction, -1);
        var bestSum = new long[nPred + 1];
        var perPred = new Dictionary<(int P, int G), long>();
        foreach (var ((p, r), c) in overlaps)
        {
            var key = (p, GroupOfReference[r]);
            perPred[key] = perPred.GetValueOrDefault(key) + c;
        }
        foreach (var ((p, g), s) in perPred)
        {
            if (s > bestSum[p] || (s == bestSum[p] && g < GroupOfPrediction[p]))
            {
                bestSum[p] = s;
                GroupOfPrediction[p] = g;
            }
        }
        _groupPreds = new int[groups];
        _groupInter = new long[groups];
        var groupPredSize = new long[groups];
        for (int p = 1; p <= nPred; p++)
        {
            int g = GroupOfPrediction[p];
            if (g < 0) continue;
            _takingPart++;
            _groupPreds[g]++;
            _groupInter[g] += bestSum[p];
            groupPredSize[g] += predSize[p];
        }
        _groupUnion = new long[groups];
        for (int g = 0; g < groups; g++) _groupUnion[g] = groupPredSize[g] + groupRefSize[g] - _groupInter[g];
    }

    /// <summary>Whether group g has predictions and |P ∩ R| / |P ∪ R| &gt; minOverlap.</summary>
    public bool Detected(int g, double minOverlap) =>
        _groupPreds[g] > 0 && (double)_groupInter[g] / _groupUnion[g] > minOverlap;

    public int ReferencesIn(int g) => _groupRefs[g];

    public int PredictionsIn(int g) => _groupPreds[g];

    /// <summary>TP: every reference of a detected group; FN: one per undetected group; FP: each
    /// prediction touching no reference and each prediction of an undetected group.</summary>
    public DetectionCounts Count(double minOverlap)
    {
        int tp = 0, fn = 0, fp = _predictions - _takingPart;
        for (int g = 0; g < Groups; g++)
        {
            if (Detected(g, minOverlap)) tp += _groupRefs[g];
            else
            {
                fn++;
                fp += _groupPreds[g];
            }
        }
        return new DetectionCounts(tp, fp, fn);
    }
}
