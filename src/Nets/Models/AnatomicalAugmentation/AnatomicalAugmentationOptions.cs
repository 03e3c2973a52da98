namespace Kernels.Nets.Models.AnatomicalAugmentation;

/// <summary>Options of the with/without anatomical-augmentation comparison. Sized by default for
/// a few minutes per run on a 2-core CPU: 96×96 windows, a narrow 2-D U-Net.</summary>
public sealed record AnatomicalAugmentationOptions
{
    /// <summary>Adjacent slices per side that become extra examples (k of ±k) in the augmented run.
    /// Default 2: a sweep of k = 1, 2, 3 on phantoms with about 4 mm slices (three seeds, 20–22
    /// held-out lesions each, 144/192 steps) gave k = 2 the best mean lesion-Dice change
    /// (+0.04) with success rate and pixel accuracy about unchanged (−1.0 and −0.8 points); the
    /// spread between seeds (−32 to +15 points of success rate) was larger than any difference
    /// between k, so no k showed a reliable gain at this training length.</summary>
    public int Neighbours { get; init; } = 2;
    /// <summary>Further k values to train and score after the main comparison (a sweep: the
    /// baseline is trained once), each an extra augmented run.</summary>
    public IReadOnlyList<int> SweepNeighbours { get; init; } = [];
    /// <summary>Side of the square window cut around the liver (multiple of 2^depth).</summary>
    public int SliceSize { get; init; } = 64;
    /// <summary>The 2-D U-Net's first-stage width (doubling per stage) and number of halvings.</summary>
    public int Width { get; init; } = 8;
    public int Depth { get; init; } = 3;
    /// <summary>One epoch = the steps of one pass over the labelled training slices; both runs
    /// take the same number of steps (the augmented run sees a part of its larger set per epoch).</summary>
    public int Epochs { get; init; } = 24;
    public int Batch { get; init; } = 8;
    public double Lr { get; init; } = 2e-3;
    /// <summary>Weigh the cross-entropy by inverse square-root class frequency of the labelled
    /// training slices (the lesion classes are a few percent of the liver's pixels).</summary>
    public bool ClassWeights { get; init; } = true;
    /// <summary>Random horizontal/vertical flips of training batches (both runs alike).</summary>
    public bool Flips { get; init; } = true;
    public float WindowLow { get; init; } = SparseAnnotation.DefaultWindowLow;
    public float WindowHigh { get; init; } = SparseAnnotation.DefaultWindowHigh;
    public ulong Seed { get; init; } = 1;

    public void Validate()
    {
        if (Neighbours < 0 || SweepNeighbours.Any(k => k < 0))
            throw new ArgumentException($"--neighbours must be 0 or more, got {string.Join(",", SweepNeighbours.Prepend(Neighbours))}");
        if (Width <= 0) throw new ArgumentException($"--width must be positive, got {Width}");
        if (Depth is < 1 or > 6) throw new ArgumentException($"--depth must be 1 to 6 halvings, got {Depth}");
        if (SliceSize < 8 || SliceSize % (1 << Depth) != 0)
            throw new ArgumentException($"--slice-size {SliceSize}: use a multiple of {1 << Depth} (2^depth), at least 8");
        if (Epochs <= 0) throw new ArgumentException($"--epochs must be positive, got {Epochs}");
        if (Batch <= 0) throw new ArgumentException($"--batch must be positive, got {Batch}");
        if (!(Lr > 0) || double.IsInfinity(Lr)) throw new ArgumentException($"--lr must be a positive number, got {Lr}");
        if (!(WindowHigh > WindowLow)) throw new ArgumentException($"the HU window [{WindowLow}, {WindowHigh}] is empty");
    }
}

/// <summary>One training run's outcome.</summary>
public sealed record AugmentationRun(
    string Name, int Neighbours, int TrainExamples, int LabelledSlices, int Steps,
    double FirstLoss, double LastLoss, double Seconds, LesionScores Scores);

/// <summary>Both runs (and any sweep runs at other k) and the data they shared.</summary>
public sealed record AugmentationComparison(
    AugmentationRun Baseline, AugmentationRun Augmented, IReadOnlyList<AugmentationRun> Sweep,
    int TrainCases, int TestCases, int TestSlices, int TestLesions);
