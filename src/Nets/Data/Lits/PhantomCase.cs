using Kernels.Nets.Data.Nifti;

namespace Kernels.Nets.Data.Lits;

/// <summary>One generated case: a CT volume in HU, its LiTS labels (0 background, 1 liver,
/// 2 lesion), the per-voxel lesion class map (<see cref="LesionClass"/>) and lesion instance ids,
/// all x-fastest over <see cref="Shape"/>, with the spacing (mm) and affine they are written with.</summary>
public sealed class PhantomCase
{
    internal PhantomCase(int index, (int X, int Y, int Z) shape, (double X, double Y, double Z) spacing, float[] volume,
                         byte[] labels, byte[] classes, byte[] ids, IReadOnlyList<PhantomLesion> lesions)
    {
        Index = index;
        Shape = shape;
        Spacing = spacing;
        Volume = volume;
        Labels = labels;
        LesionClasses = classes;
        LesionIds = ids;
        Lesions = lesions;
    }

    public int Index { get; }
    public (int X, int Y, int Z) Shape { get; }
    public (double X, double Y, double Z) Spacing { get; }

    /// <summary>CT intensities in HU.</summary>
    public float[] Volume { get; }

    /// <summary>0 background, 1 liver, 2 lesion.</summary>
    public byte[] Labels { get; }

    /// <summary>Per voxel: 0 none, 1 cyst, 2 metastasis (hypo- or hyper-dense), 3 hemangioma.</summary>
    public byte[] LesionClasses { get; }

    /// <summary>Per voxel: 0 none, else the 1-based id of the lesion in <see cref="Lesions"/>.</summary>
    public byte[] LesionIds { get; }

    public IReadOnlyList<PhantomLesion> Lesions { get; }

    /// <summary>Voxel → world (mm): radiological orientation (x and y flipped), centred on the volume.</summary>
    public double[,] Affine
    {
        get
        {
            var (nx, ny, nz) = Shape;
            var (sx, sy, sz) = Spacing;
            return new double[,]
            {
                { -sx, 0, 0, sx * (nx - 1) / 2 },
                { 0, -sy, 0, sy * (ny - 1) / 2 },
                { 0, 0, sz, -sz * (nz - 1) / 2 },
                { 0, 0, 0, 1 },
            };
        }
    }

    public NiftiImage<float> VolumeImage() => Describe(NiftiImage<float>.Create(Volume, Shape, Spacing, Affine), "phantom CT (HU)");
    public NiftiImage<byte> SegmentationImage() => Describe(NiftiImage<byte>.Create(Labels, Shape, Spacing, Affine), "phantom labels 0/1/2");
    public NiftiImage<byte> LesionClassImage() => Describe(NiftiImage<byte>.Create(LesionClasses, Shape, Spacing, Affine), "lesion classes 0 none 1 cyst 2 metastasis 3 hemangioma");

    private NiftiImage<T> Describe<T>(NiftiImage<T> img, string what) where T : unmanaged
    {
        img.Header.Description = $"kernels phantom case {Index}: {what}";
        return img;
    }

    public int Count(byte label) => Labels.Count(l => l == label);
}
