using System.Numerics;

namespace Kernels.Nets.Metrics.Lits;

/// <summary>The LiTS evaluation exactly as PAPERS.md section 7 describes it (the official scorer's
/// later revision, with the corrections listed there). Add the cases one at a time (each is
/// scored on its own and its volumes are not kept), then <see cref="Finish"/> for the dataset
/// figures.
///
/// Labels: 0 background, 1 liver, 2 tumour; the liver is evaluated as label ≥ 1, the tumour as
/// label 2, and "has a liver" means some voxel is exactly 1. Choices where PAPERS.md is silent
/// (the independent reference, scripts/vectors/lits_eval.py, makes the same ones):
/// - a reference without any voxel ≥ 1 has tumour burden 0;
/// - the global lesion Dice is 1 when no case has label 2 anywhere, the global liver Dice 0 when
///   its denominator is 0;
/// - the tumour-burden maximum error is the largest (reference − prediction), signed, as the
///   scorer's np.max gives;
/// - RVD is 9001 for an empty side, like the distances (the scorer does so);
/// - ties in the lesion merge and match go to the lower component number, components numbered as
///   the official scorer numbers them (x slowest, see <see cref="ConnectedComponents"/>), as its
///   np.argmax does; see <see cref="LesionMatching"/>.</summary>
public sealed class LitsEvaluator
{
    private readonly List<LitsCaseResult> _cases = [];
    private readonly List<DetectedLesion> _lesions = [];
    private long _lesionInter, _lesionSum, _liverInter, _liverSum;

    public IReadOnlyList<LitsCaseResult> Cases => _cases;

    /// <summary>Scores one case. The volumes are [X, Y, Z] x fastest with any integer or float label
    /// type; <paramref name="spacing"/> in mm.</summary>
    public LitsCaseResult AddCase<T>(string id, ReadOnlySpan<T> prediction, ReadOnlySpan<T> reference, VolumeShape shape, VoxelSpacing spacing)
        where T : unmanaged, INumber<T>
    {
        if (shape.X <= 0 || shape.Y <= 0 || shape.Z <= 0 || shape.Voxels > int.MaxValue)
            throw new ArgumentException($"LiTS case {id}: shape {shape} must be positive and below 2^31 voxels");
        if (prediction.Length != shape.Voxels || reference.Length != shape.Voxels)
            throw new ArgumentException($"LiTS case {id}: the prediction has {prediction.Length} and the reference {reference.Length} voxels, the shape {shape} has {shape.Voxels}");
        if (!(spacing.X > 0 && spacing.Y > 0 && spacing.Z > 0) || !double.IsFinite(spacing.X + spacing.Y + spacing.Z))
            throw new ArgumentException($"LiTS case {id}: voxel spacing {spacing} must be positive and finite");
        var p = Codes(prediction);
        var r = Codes(reference);
        var result = Score(id, p, r, shape, spacing);
        _cases.Add(result);
        _lesions.AddRange(result.DetectedLesions);
        return result;
    }

    /// <summary>Scores a whole dataset.</summary>
    public static LitsReport Evaluate<T>(IEnumerable<(string Id, T[] Prediction, T[] Reference, VolumeShape Shape, VoxelSpacing Spacing)> cases)
        where T : unmanaged, INumber<T>
    {
        var e = new LitsEvaluator();
        foreach (var c in cases) e.AddCase<T>(c.Id, c.Prediction, c.Reference, c.Shape, c.Spacing);
        return e.Finish();
    }

    /// <summary>The dataset figures over the cases added so far.</summary>
    public LitsReport Finish()
    {
        if (_cases.Count == 0) throw new InvalidOperationException("LiTS evaluation: no case was added");
        int n = _cases.Count;
        var at = default(DetectionCounts);
        var above = default(DetectionCounts);
        double lesionDice = 0, liverDice = 0, sq = 0, max = double.NegativeInfinity;
        foreach (var c in _cases)
        {
            at += c.Detection;
            above += c.DetectionAboveZero;
            lesionDice += c.LesionDice;
            liverDice += c.Liver.Dice;
            double d = c.TumorBurdenReference - c.TumorBurdenPrediction;
            sq += d * d;
            if (d > max) max = d;
        }
        var lesionMeans = _lesions.Count == 0 ? SegmentationScores.EmptySide : Mean(_lesions.Select(l => l.Scores));
        var summary = new LitsSummary(
            lesionDice / n, _lesionSum > 0 ? 2.0 * _lesionInter / _lesionSum : 1.0,
            liverDice / n, _liverSum > 0 ? 2.0 * _liverInter / _liverSum : 0.0,
            at, above, _lesions.Count, lesionMeans, Mean(_cases.Select(c => c.Liver)),
            Math.Sqrt(sq / n), max);
        return new LitsReport([.. _cases], summary);
    }

    private static SegmentationScores Mean(IEnumerable<SegmentationScores> all)
    {
        double d = 0, j = 0, v = 0, rvd = 0, a = 0, rm = 0, m = 0;
        int n = 0;
        foreach (var s in all)
        {
            d += s.Dice; j += s.Jaccard; v += s.Voe; rvd += s.Rvd; a += s.Assd; rm += s.Rmsd; m += s.Msd;
            n++;
        }
        return new SegmentationScores(d / n, j / n, v / n, rvd / n, a / n, rm / n, m / n);
    }

    // Label codes: 0 below 1, 1 exactly 1 (liver), 2 exactly 2 (tumour), 3 any other value ≥ 1.
    // For integer labels that is clamp(v, 0, 3); other types compare value by value.
    private static byte[] Codes<T>(ReadOnlySpan<T> v) where T : unmanaged, INumber<T>
    {
        var codes = new byte[v.Length];
        if (typeof(T) == typeof(byte))
        {
            System.Numerics.Tensors.TensorPrimitives.Min(System.Runtime.InteropServices.MemoryMarshal.Cast<T, byte>(v), (byte)3, codes);
            return codes;
        }
        T zero = T.Zero, one = T.One, two = T.One + T.One, three = two + T.One;
        if (typeof(T).GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IBinaryInteger<>)))
        {
            for (int i = 0; i < v.Length; i++) codes[i] = byte.CreateTruncating(T.Clamp(v[i], zero, three));
            return codes;
        }
        for (int i = 0; i < v.Length; i++)
        {
            T x = v[i];
            codes[i] = x == one ? (byte)1 : x == two ? (byte)2 : x >= one ? (byte)3 : (byte)0;
        }
        return codes;
    }

    private LitsCaseResult Score(string id, byte[] p, byte[] r, VolumeShape shape, VoxelSpacing spacing)
    {
        // Counts and bounds in one pass.
        long pLiver = 0, rLiver = 0, liverInter = 0, pTum = 0, rTum = 0, tumInter = 0;
        bool pHasOne = false, rHasOne = false;
        var liverBounds = Bounds.Empty;
        var lesionBounds = Bounds.Empty;
        for (int z = 0, i = 0; z < shape.Z; z++)
        for (int y = 0; y < shape.Y; y++)
        for (int x = 0; x < shape.X; x++, i++)
        {
            byte a = p[i], b = r[i];
            if ((a | b) == 0) continue;
            bool pl = a != 0, rl = b != 0;
            pLiver += pl ? 1 : 0;
            rLiver += rl ? 1 : 0;
            liverInter += pl && rl ? 1 : 0;
            pHasOne |= a == 1;
            rHasOne |= b == 1;
            liverBounds.Add(x, y, z);
            bool pt = a == 2, rt = b == 2;
            if (pt | rt)
            {
                pTum += pt ? 1 : 0;
                rTum += rt ? 1 : 0;
                tumInter += pt && rt ? 1 : 0;
                lesionBounds.Add(x, y, z);
            }
        }

        bool liverCounts = pHasOne && rHasOne;
        SegmentationScores liver;
        if (liverCounts)
        {
            var box = liverBounds.ToBox();
            var (mp, mr) = ExtractLiver(p, r, shape, box);
            liver = PairScoring.Score(mp, mr, box.Padded, spacing);
            _liverInter += liverInter;
            _liverSum += pLiver + rLiver;
        }
        else
        {
            liver = SegmentationScores.EmptySide;
            _liverSum += rLiver;
        }

        double lesionDice = pTum == 0 && rTum == 0 ? 1.0 : 2.0 * tumInter / (pTum + rTum);
        _lesionInter += tumInter;
        _lesionSum += pTum + rTum;

        double burdenRef = rLiver > 0 ? rTum / (double)rLiver : 0.0;
        double burdenPred = pHasOne ? pTum / (double)pLiver : SegmentationScores.Large;

        var lesions = LesionDetection.Run(p, r, shape, spacing, lesionBounds);
        return new LitsCaseResult(id, liver, lesionDice, burdenRef, burdenPred, lesions.Predicted, lesions.References,
            lesions.AtHalf, lesions.AboveZero, lesions.Detected);
    }

    private static (byte[] P, byte[] R) ExtractLiver(byte[] p, byte[] r, VolumeShape shape, Box box)
    {
        var padded = box.Padded;
        var mp = new byte[padded.Voxels];
        var mr = new byte[padded.Voxels];
        for (int z = 0; z < box.Nz; z++)
        for (int y = 0; y < box.Ny; y++)
        {
            long src = box.X0 + (long)shape.X * (box.Y0 + y + (long)shape.Y * (box.Z0 + z));
            int dst = 1 + padded.X * (y + 1 + padded.Y * (z + 1));
            for (int x = 0; x < box.Nx; x++)
            {
                mp[dst + x] = p[src + x] != 0 ? (byte)1 : (byte)0;
                mr[dst + x] = r[src + x] != 0 ? (byte)1 : (byte)0;
            }
        }
        return (mp, mr);
    }
}
