namespace Kernels.Nets.Models.AnatomicalAugmentation;

/// <summary>The pixel classes of the lesion-classification task (PAPERS.md section 8). Pixels
/// outside the liver are not a class: their target is <see cref="Ignore"/>.</summary>
public static class PixelClass
{
    public const int HealthyLiver = 0;
    public const int Cyst = 1;
    public const int Metastasis = 2;
    public const int Hemangioma = 3;
    /// <summary>Number of classes the U-Net predicts.</summary>
    public const int Count = 4;
    /// <summary>Target of pixels outside the liver: the loss and the metrics skip them.</summary>
    public const int Ignore = -1;

    public static readonly string[] Names = ["healthy liver", "cyst", "metastasis", "hemangioma"];

    public static bool IsLesion(int c) => c is Cyst or Metastasis or Hemangioma;
}

/// <summary>A CT volume with its full reference: HU values, the liver mask, and lesion instances
/// (id 1..L per voxel, 0 none) with one kind per lesion. Arrays are x-fastest, then y, then z
/// (NIfTI order), so an axial slice z is the contiguous run [z·W·H, (z+1)·W·H) of H rows of W.
/// The sparse annotation keeps only some of this (one slice per lesion); evaluation uses it all.</summary>
public sealed class AnnotatedVolume
{
    public AnnotatedVolume(string id, int width, int height, int depth, float[] hu, bool[] liver, int[] lesion, int[] lesionKinds)
    {
        if (width <= 0 || height <= 0 || depth <= 0)
            throw new ArgumentException($"volume '{id}': size {width}×{height}×{depth} must be positive in every axis");
        long n = (long)width * height * depth;
        if (hu.Length != n || liver.Length != n || lesion.Length != n)
            throw new ArgumentException($"volume '{id}': size {width}×{height}×{depth} needs {n} voxels, got hu {hu.Length}, liver {liver.Length}, lesion {lesion.Length}");
        for (int i = 0; i < lesionKinds.Length; i++)
            if (!PixelClass.IsLesion(lesionKinds[i]))
                throw new ArgumentException($"volume '{id}': lesion {i + 1} has kind {lesionKinds[i]}, expected cyst ({PixelClass.Cyst}), metastasis ({PixelClass.Metastasis}) or hemangioma ({PixelClass.Hemangioma})");
        foreach (int l in lesion)
            if (l < 0 || l > lesionKinds.Length)
                throw new ArgumentException($"volume '{id}': a voxel has lesion id {l}, but only lesions 1..{lesionKinds.Length} have a kind");
        Id = id;
        Width = width;
        Height = height;
        Depth = depth;
        Hu = hu;
        Liver = liver;
        Lesion = lesion;
        LesionKinds = lesionKinds;
    }

    public string Id { get; }
    public int Width { get; }
    public int Height { get; }
    public int Depth { get; }
    public float[] Hu { get; }
    public bool[] Liver { get; }
    /// <summary>Lesion id per voxel: 0 none, i (1-based) the i-th lesion.</summary>
    public int[] Lesion { get; }
    /// <summary>Kind (a <see cref="PixelClass"/> lesion class) of lesion i + 1.</summary>
    public int[] LesionKinds { get; }
    public int LesionCount => LesionKinds.Length;
    public int SliceSize => Width * Height;

    /// <summary>The true class of voxel i: its lesion's kind, healthy liver, or Ignore outside
    /// the liver (a lesion voxel counts as a lesion even where the liver mask misses it).</summary>
    public int ClassAt(int i)
    {
        int l = Lesion[i];
        if (l > 0) return LesionKinds[l - 1];
        return Liver[i] ? PixelClass.HealthyLiver : PixelClass.Ignore;
    }

    /// <summary>The true class map of axial slice z (H·W, row-major).</summary>
    public int[] SliceClasses(int z)
    {
        CheckZ(z);
        var m = new int[SliceSize];
        int o = z * SliceSize;
        for (int i = 0; i < m.Length; i++) m[i] = ClassAt(o + i);
        return m;
    }

    /// <summary>The lesion ids of axial slice z (H·W, row-major).</summary>
    public int[] SliceLesions(int z)
    {
        CheckZ(z);
        return Lesion.AsSpan(z * SliceSize, SliceSize).ToArray();
    }

    /// <summary>Per lesion (index id − 1), its voxel count in each axial slice [lesion][z].</summary>
    public int[][] LesionAreas()
    {
        var area = new int[LesionCount][];
        for (int i = 0; i < area.Length; i++) area[i] = new int[Depth];
        for (int z = 0; z < Depth; z++)
        {
            int o = z * SliceSize;
            for (int i = 0; i < SliceSize; i++)
            {
                int l = Lesion[o + i];
                if (l > 0) area[l - 1][z]++;
            }
        }
        return area;
    }

    private void CheckZ(int z)
    {
        if ((uint)z >= (uint)Depth) throw new ArgumentOutOfRangeException(nameof(z), z, $"volume '{Id}' has slices 0..{Depth - 1}");
    }
}
