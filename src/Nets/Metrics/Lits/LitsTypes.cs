namespace Kernels.Nets.Metrics.Lits;

/// <summary>The extent of a label volume, x fastest in memory (index = x + X·(y + Y·z)); axial
/// slices are the planes of fixed z.</summary>
public readonly record struct VolumeShape(int X, int Y, int Z)
{
    public long Voxels => (long)X * Y * Z;

    public override string ToString() => $"{X}×{Y}×{Z}";
}

/// <summary>Voxel size in millimetres along x, y and z.</summary>
public readonly record struct VoxelSpacing(double X, double Y, double Z)
{
    public override string ToString() => FormattableString.Invariant($"{X:0.####}×{Y:0.####}×{Z:0.####} mm");
}

/// <summary>Overlap and surface scores of a prediction against a reference (PAPERS.md section 7).
/// RVD = (|R| − |P|) / |P| (the scorer's sign and normaliser); distances in mm.</summary>
public sealed record SegmentationScores(double Dice, double Jaccard, double Voe, double Rvd, double Assd, double Rmsd, double Msd)
{
    /// <summary>The penalty the scorer gives when either side is empty.</summary>
    public const double Large = 9001;

    /// <summary>Dice 0, Jaccard 0, VOE 1, RVD and the distances 9001.</summary>
    public static readonly SegmentationScores EmptySide = new(0, 0, 1, Large, Large, Large, Large);
}

/// <summary>Lesion detection counts at one overlap threshold.</summary>
public readonly record struct DetectionCounts(int TruePositives, int FalsePositives, int FalseNegatives)
{
    public static DetectionCounts operator +(DetectionCounts a, DetectionCounts b) =>
        new(a.TruePositives + b.TruePositives, a.FalsePositives + b.FalsePositives, a.FalseNegatives + b.FalseNegatives);

    /// <summary>TP / (TP + FP), 0 when nothing was predicted (the scorer's convention).</summary>
    public double Precision => TruePositives + FalsePositives > 0 ? TruePositives / (double)(TruePositives + FalsePositives) : 0;

    /// <summary>TP / (TP + FN), 0 when there was nothing to find.</summary>
    public double Recall => TruePositives + FalseNegatives > 0 ? TruePositives / (double)(TruePositives + FalseNegatives) : 0;
}

/// <summary>A reference group detected at overlap &gt; 0.5, scored as its merged prediction against
/// its merged reference.</summary>
/// <param name="References">Reference lesions merged into the group.</param>
/// <param name="Predictions">Predicted lesions matched to it.</param>
public sealed record DetectedLesion(int References, int Predictions, SegmentationScores Scores);

/// <summary>Everything the evaluation finds in one case.</summary>
/// <param name="Liver">Liver (label ≥ 1) scores; <see cref="SegmentationScores.EmptySide"/> unless
/// both volumes contain label 1.</param>
/// <param name="LesionDice">Dice of label 2; 1 when neither volume has any.</param>
/// <param name="TumorBurdenReference">#(label 2) / #(label ≥ 1) of the reference (0 when it has no voxel ≥ 1).</param>
/// <param name="TumorBurdenPrediction">The same for the prediction; 9001 when it has no label 1.</param>
/// <param name="PredictedLesions">Connected components of predicted label 2.</param>
/// <param name="ReferenceLesions">Reference lesions after the in-plane dilation merge.</param>
/// <param name="Detection">Counts at overlap &gt; 0.5.</param>
/// <param name="DetectionAboveZero">Counts at overlap &gt; 0.</param>
/// <param name="DetectedLesions">The groups detected at overlap &gt; 0.5 and their scores.</param>
public sealed record LitsCaseResult(
    string Id, SegmentationScores Liver, double LesionDice, double TumorBurdenReference, double TumorBurdenPrediction,
    int PredictedLesions, int ReferenceLesions, DetectionCounts Detection, DetectionCounts DetectionAboveZero,
    IReadOnlyList<DetectedLesion> DetectedLesions);

/// <summary>The dataset figures. Lesion* are means over every lesion detected at overlap &gt; 0.5 in
/// all cases (the empty-side values when none was); Liver* means over cases.</summary>
public sealed record LitsSummary(
    double LesionDicePerCase, double LesionDiceGlobal, double LiverDicePerCase, double LiverDiceGlobal,
    DetectionCounts Detection, DetectionCounts DetectionAboveZero, int DetectedLesions,
    SegmentationScores LesionMeans, SegmentationScores LiverMeans,
    double TumorBurdenRmse, double TumorBurdenMaxError)
{
    public double Precision => Detection.Precision;
    public double Recall => Detection.Recall;
    public double PrecisionAboveZero => DetectionAboveZero.Precision;
    public double RecallAboveZero => DetectionAboveZero.Recall;
}

/// <summary>Per-case results and the summary.</summary>
public sealed record LitsReport(IReadOnlyList<LitsCaseResult> Cases, LitsSummary Summary);
