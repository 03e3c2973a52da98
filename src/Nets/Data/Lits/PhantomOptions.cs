namespace Kernels.Nets.Data.Lits;

/// <summary>How a lesion looks in the phantom. HyperDense counts as a metastasis in the
/// three-class scheme of the anatomical-augmentation system (hypervascular metastases).</summary>
public enum PhantomLesionKind
{
    /// <summary>Hypo-dense with an enhancing rim (and a darker necrotic core when large).</summary>
    Metastasis,
    /// <summary>Brighter than the liver, soft edge.</summary>
    HyperDense,
    /// <summary>Water-like (≈ 10 HU), round, sharp edge.</summary>
    Cyst,
    /// <summary>Hypo-dense with bright peripheral nodules.</summary>
    Hemangioma,
}

/// <summary>The per-voxel lesion classes of the kind map (the anatomical-augmentation classes;
/// healthy liver and background are both 0 there, the segmentation tells them apart).</summary>
public static class LesionClass
{
    public const byte None = 0, Cyst = 1, Metastasis = 2, Hemangioma = 3;
    public static readonly string[] Names = ["none", "cyst", "metastasis", "hemangioma"];

    public static byte Of(PhantomLesionKind kind) => kind switch
    {
        PhantomLesionKind.Cyst => Cyst,
        PhantomLesionKind.Hemangioma => Hemangioma,
        _ => Metastasis,
    };
}

/// <summary>One lesion of a phantom case: its instance id in <see cref="PhantomCase.LesionIds"/>
/// (1-based), kind, centre in voxel coordinates, mean radius in millimetres and labelled voxels.</summary>
public sealed record PhantomLesion(int Id, PhantomLesionKind Kind, double CentreX, double CentreY, double CentreZ, double RadiusMm, int Voxels)
{
    public byte Class => LesionClass.Of(Kind);
}

/// <summary>Settings of the phantom generator. Spacing is drawn per case from a field of view
/// (like a 512-pixel CT slice of 0.65–0.8 mm pixels resampled to the grid) and a z coverage
/// (slices thicker than pixels, as in most LiTS scans) unless fixed by <see cref="Spacing"/>.</summary>
public sealed record PhantomOptions
{
    public int X { get; init; } = 96;
    public int Y { get; init; } = 96;
    public int Z { get; init; } = 48;

    /// <summary>In-plane field of view in mm, drawn uniformly per case: spacing x/y = fov / X.</summary>
    public (double Min, double Max) FovMm { get; init; } = (340, 420);

    /// <summary>Cranio-caudal coverage in mm, drawn per case: spacing z = coverage / Z.</summary>
    public (double Min, double Max) ZCoverageMm { get; init; } = (230, 290);

    /// <summary>A fixed spacing in mm (overrides the two ranges above).</summary>
    public (double X, double Y, double Z)? Spacing { get; init; }

    public int MinLesions { get; init; } = 1;
    public int MaxLesions { get; init; } = 6;

    /// <summary>Lesion radius range in mm (log-uniform); the low end is raised to one in-plane voxel.</summary>
    public (double Min, double Max) LesionRadiusMm { get; init; } = (4, 30);

    /// <summary>Image noise (Gaussian, HU), drawn per case.</summary>
    public (double Min, double Max) NoiseHu { get; init; } = (8, 14);

    /// <summary>Blur before the noise, as a Gaussian sigma in voxels (in-plane; z uses half).</summary>
    public double BlurVoxels { get; init; } = 0.6;

    public void Validate()
    {
        if (X < 16 || Y < 16 || Z < 8 || X > 1024 || Y > 1024 || Z > 1024)
            throw new ArgumentException($"phantom size {X},{Y},{Z}: each of X and Y must be 16 to 1024 and Z 8 to 1024");
        if (MinLesions < 0 || MaxLesions < MinLesions || MaxLesions > 64)
            throw new ArgumentException($"phantom lesions {MinLesions}..{MaxLesions}: need 0 ≤ min ≤ max ≤ 64");
        if (!(LesionRadiusMm.Min > 0 && LesionRadiusMm.Max >= LesionRadiusMm.Min))
            throw new ArgumentException($"phantom lesion radius {LesionRadiusMm}: need 0 < min ≤ max");
        if (Spacing is { } s && !(s.X > 0 && s.Y > 0 && s.Z > 0))
            throw new ArgumentException($"phantom spacing {s}: each must be positive");
        if (!(FovMm.Min > 0 && FovMm.Max >= FovMm.Min && ZCoverageMm.Min > 0 && ZCoverageMm.Max >= ZCoverageMm.Min))
            throw new ArgumentException("phantom field of view and z coverage ranges must be positive and ordered");
        if (!(NoiseHu.Min >= 0 && NoiseHu.Max >= NoiseHu.Min) || !(BlurVoxels >= 0))
            throw new ArgumentException("phantom noise range and blur must be non-negative");
    }
}
