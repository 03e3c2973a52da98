namespace Kernels.Nets.Data.Nifti;

/// <summary>A 3-D NIfTI-1 image in memory: the header (geometry and every field that round-trips)
/// and the voxels in x-fastest order (index = x + X·(y + Y·z)), with scl_slope / scl_inter
/// already applied. T is float for intensities; int or byte read labels exactly.</summary>
public sealed class NiftiImage<T> where T : unmanaged
{
    public NiftiImage(NiftiHeader header, T[] data, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(data);
        if (data.LongLength != header.VoxelCount)
            throw new ArgumentException($"NIfTI image {path ?? "(in memory)"}: {data.LongLength} voxels given for shape {header.Shape} ({header.VoxelCount} voxels)", nameof(data));
        Header = header;
        Data = data;
        Path = path;
    }

    public NiftiHeader Header { get; }

    /// <summary>Voxels, x fastest.</summary>
    public T[] Data { get; }

    /// <summary>The file it was read from, if any (for messages).</summary>
    public string? Path { get; }

    public (int X, int Y, int Z) Shape => Header.Shape;

    /// <summary>Voxel spacing in millimetres (pixdim[1..3]).</summary>
    public (double X, double Y, double Z) Spacing => Header.Spacing;

    /// <summary>Voxel-to-world affine, 4×4 row-major (see <see cref="NiftiHeader.Affine"/>).</summary>
    public double[,] Affine => Header.Affine();

    public T this[int x, int y, int z]
    {
        get => Data[Index(x, y, z)];
        set => Data[Index(x, y, z)] = value;
    }

    public long Index(int x, int y, int z)
    {
        var (nx, ny, _) = Shape;
        return x + (long)nx * (y + (long)ny * z);
    }

    /// <summary>A new image with the same header (shape, spacing, affine, descriptive fields) and other voxels.</summary>
    public NiftiImage<TOut> With<TOut>(TOut[] data) where TOut : unmanaged => new(Header.Clone(), data);

    /// <summary>A new image of the given shape; the affine defaults to diag(spacing) with the origin at voxel 0.
    /// Both sform and qform are set (code 1, scanner anatomical).</summary>
    public static NiftiImage<T> Create(T[] data, (int X, int Y, int Z) shape, (double X, double Y, double Z) spacing, double[,]? affine = null)
    {
        if (shape.X < 1 || shape.Y < 1 || shape.Z < 1 || shape.X > short.MaxValue || shape.Y > short.MaxValue || shape.Z > short.MaxValue)
            throw new ArgumentException($"NIfTI shape {shape}: each size must be 1 to {short.MaxValue}", nameof(shape));
        if (!(spacing.X > 0 && spacing.Y > 0 && spacing.Z > 0))
            throw new ArgumentException($"NIfTI spacing {spacing}: each must be positive", nameof(spacing));
        var h = new NiftiHeader { Dim = [3, (short)shape.X, (short)shape.Y, (short)shape.Z, 1, 1, 1, 1] };
        h.SetAffine(affine ?? new double[,] { { spacing.X, 0, 0, 0 }, { 0, spacing.Y, 0, 0 }, { 0, 0, spacing.Z, 0 }, { 0, 0, 0, 1 } });
        // pixdim is the spacing as given (the affine's column norms only differ by rounding or a shear).
        h.PixDim[1] = (float)spacing.X;
        h.PixDim[2] = (float)spacing.Y;
        h.PixDim[3] = (float)spacing.Z;
        return new NiftiImage<T>(h, data);
    }
}
