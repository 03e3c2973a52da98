namespace Kernels.Nets.Models.AnatomicalAugmentation;

/// <summary>The scores of PAPERS.md section 8 over a set of evaluation slices (true masks):
/// success rate = lesions whose majority predicted class (over all four classes, inside the
/// lesion on its labelled slice) is their kind; pixel accuracy over pixels inside the liver
/// (the mask's non-ignored pixels); Dice per class pooled over all slices inside the liver, and
/// its mean over the lesion classes present in the reference or the prediction.</summary>
public sealed record LesionScores(
    int Lesions, int CorrectLesions, long LiverPixels, long CorrectPixels,
    double[] Dice, int[] LesionsPerKind, int[] CorrectPerKind)
{
    public double SuccessRate => Lesions == 0 ? double.NaN : CorrectLesions / (double)Lesions;
    public double PixelAccuracy => LiverPixels == 0 ? double.NaN : CorrectPixels / (double)LiverPixels;

    /// <summary>Mean Dice of cyst, metastasis and hemangioma, skipping a class absent from both
    /// reference and prediction (NaN when all are).</summary>
    public double MeanLesionDice
    {
        get
        {
            double sum = 0;
            int n = 0;
            for (int c = 1; c < Dice.Length; c++)
                if (!double.IsNaN(Dice[c]))
                {
                    sum += Dice[c];
                    n++;
                }
            return n == 0 ? double.NaN : sum / n;
        }
    }
}

/// <summary>Accumulates predictions slice by slice into <see cref="LesionScores"/>.</summary>
public sealed class LesionMetrics
{
    private readonly long[] _inter = new long[PixelClass.Count], _pred = new long[PixelClass.Count], _ref = new long[PixelClass.Count];
    private readonly int[] _lesionsPerKind = new int[PixelClass.Count], _correctPerKind = new int[PixelClass.Count];
    private long _liver, _correctPixels;
    private int _lesions, _correctLesions;

    /// <summary>The class predicted for most pixels of lesion <paramref name="id"/>
    /// (lowest class on a tie), or −1 when the lesion has no pixel here.</summary>
    public static int MajorityClass(ReadOnlySpan<int> predicted, ReadOnlySpan<int> lesions, int id, int classes = PixelClass.Count)
    {
        if (predicted.Length != lesions.Length)
            throw new ArgumentException($"MajorityClass: {predicted.Length} predictions for {lesions.Length} lesion pixels");
        Span<int> votes = stackalloc int[classes];
        votes.Clear();
        bool any = false;
        for (int i = 0; i < predicted.Length; i++)
            if (lesions[i] == id)
            {
                int p = predicted[i];
                if ((uint)p >= (uint)classes) throw new ArgumentException($"MajorityClass: predicted class {p} at pixel {i} is outside [0, {classes})");
                votes[p]++;
                any = true;
            }
        if (!any) return -1;
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (votes[c] > votes[best]) best = c;
        return best;
    }

    /// <summary>2|P∩R| / (|P| + |R|); NaN when both are empty (the class is absent).</summary>
    public static double Dice(long intersection, long predicted, long reference) =>
        predicted + reference == 0 ? double.NaN : 2.0 * intersection / (predicted + reference);

    /// <summary>Adds one slice: <paramref name="predicted"/> classes per pixel against the
    /// example's mask; the example's scored lesions enter the success rate.</summary>
    public void Add(ReadOnlySpan<int> predicted, SliceExample example) =>
        Add(predicted, example.Mask, example.Lesions, example.Scored);

    public void Add(ReadOnlySpan<int> predicted, ReadOnlySpan<int> mask, ReadOnlySpan<int> lesions, IReadOnlyList<(int Id, int Kind)> scored)
    {
        if (predicted.Length != mask.Length || lesions.Length != mask.Length)
            throw new ArgumentException($"LesionMetrics: {predicted.Length} predictions, {mask.Length} mask and {lesions.Length} lesion pixels must agree");
        for (int i = 0; i < mask.Length; i++)
        {
            int r = mask[i];
            if (r == PixelClass.Ignore) continue;
            int p = predicted[i];
            if ((uint)p >= PixelClass.Count) throw new ArgumentException($"LesionMetrics: predicted class {p} at pixel {i} is outside [0, {PixelClass.Count})");
            _liver++;
            _ref[r]++;
            _pred[p]++;
            if (p == r)
            {
                _correctPixels++;
                _inter[r]++;
            }
        }
        foreach (var (id, kind) in scored)
        {
            int m = MajorityClass(predicted, lesions, id);
            if (m < 0) continue; // the lesion lies outside the slice window: nothing to score
            _lesions++;
            _lesionsPerKind[kind]++;
            if (m == kind)
            {
                _correctLesions++;
                _correctPerKind[kind]++;
            }
        }
    }

    public LesionScores Result()
    {
        var dice = new double[PixelClass.Count];
        for (int c = 0; c < dice.Length; c++) dice[c] = Dice(_inter[c], _pred[c], _ref[c]);
        return new LesionScores(_lesions, _correctLesions, _liver, _correctPixels, dice,
            (int[])_lesionsPerKind.Clone(), (int[])_correctPerKind.Clone());
    }
}
