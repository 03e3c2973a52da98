using Kernels.Cpu;
using Kernels.Nets.Data.Nifti;

namespace Kernels.Nets.Data.Lits;

/// <summary>Resampling of x-fastest volumes between grids that cover the same physical extent:
/// output voxel i samples input coordinate (i + ½)·n/n′ − ½ along each axis (voxel centres of
/// equal-extent grids line up; edges are clamped). Images use trilinear interpolation, labels
/// nearest neighbour (so no new label value appears). The affine is updated so every voxel
/// keeps its world position: A′ = A · [diag(n/n′) | (n/n′ − 1)/2].</summary>
public static class Resampling
{
    /// <summary>The grid size that gives (about) the target spacing over the same extent:
    /// round(n · spacing / target), at least 1. The exact new spacing is spacing · n / n′.</summary>
    public static (int X, int Y, int Z) ShapeFor((int X, int Y, int Z) shape, (double X, double Y, double Z) spacing, (double X, double Y, double Z) target)
    {
        if (!(target.X > 0 && target.Y > 0 && target.Z > 0))
            throw new ArgumentException($"target spacing {target}: each must be positive");
        static int N(int n, double s, double t) => Math.Max(1, (int)Math.Round(n * s / t));
        return (N(shape.X, spacing.X, target.X), N(shape.Y, spacing.Y, target.Y), N(shape.Z, spacing.Z, target.Z));
    }

    /// <summary>Trilinear resampling to <paramref name="dst"/> (copies the span first; pass an array to avoid that).</summary>
    public static float[] Linear(ReadOnlySpan<float> src, (int X, int Y, int Z) shape, (int X, int Y, int Z) dst) =>
        Linear(src.ToArray(), shape, dst);

    /// <summary>Trilinear resampling to <paramref name="dst"/>, reading the array in place (no copy
    /// of a possibly gigabyte-sized input).</summary>
    public static float[] Linear(float[] input, (int X, int Y, int Z) shape, (int X, int Y, int Z) dst)
    {
        Check(input.Length, shape, dst);
        var output = new float[(long)dst.X * dst.Y * dst.Z];
        var (ix, wx) = Weights(shape.X, dst.X);
        var (iy, wy) = Weights(shape.Y, dst.Y);
        var (iz, wz) = Weights(shape.Z, dst.Z);
        int nx = shape.X, ny = shape.Y;
        long plane = (long)nx * ny;
        CpuParallel.For(dst.Z, (long)dst.X * dst.Y * 8, (k0, k1) =>
        {
            for (long k = k0; k < k1; k++)
            {
                long z0 = iz[k] * plane, z1 = Math.Min(iz[k] + 1, shape.Z - 1) * plane;
                float fz = wz[k];
                for (int j = 0; j < dst.Y; j++)
                {
                    long y0 = (long)iy[j] * nx, y1 = (long)Math.Min(iy[j] + 1, ny - 1) * nx;
                    float fy = wy[j];
                    long o = (k * dst.Y + j) * dst.X;
                    for (int i = 0; i < dst.X; i++)
                    {
                        int x0 = ix[i], x1 = Math.Min(x0 + 1, nx - 1);
                        float fx = wx[i];
                        float c00 = input[z0 + y0 + x0] + fx * (input[z0 + y0 + x1] - input[z0 + y0 + x0]);
                        float c01 = input[z0 + y1 + x0] + fx * (input[z0 + y1 + x1] - input[z0 + y1 + x0]);
                        float c10 = input[z1 + y0 + x0] + fx * (input[z1 + y0 + x1] - input[z1 + y0 + x0]);
                        float c11 = input[z1 + y1 + x0] + fx * (input[z1 + y1 + x1] - input[z1 + y1 + x0]);
                        float c0 = c00 + fy * (c01 - c00), c1 = c10 + fy * (c11 - c10);
                        output[o + i] = c0 + fz * (c1 - c0);
                    }
                }
            }
        });
        return output;
    }

    /// <summary>Nearest-neighbour resampling to <paramref name="dst"/> (labels; copies the span first).</summary>
    public static T[] Nearest<T>(ReadOnlySpan<T> src, (int X, int Y, int Z) shape, (int X, int Y, int Z) dst) where T : unmanaged =>
        Nearest(src.ToArray(), shape, dst);

    /// <summary>Nearest-neighbour resampling to <paramref name="dst"/>, reading the array in place.</summary>
    public static T[] Nearest<T>(T[] input, (int X, int Y, int Z) shape, (int X, int Y, int Z) dst) where T : unmanaged
    {
        Check(input.Length, shape, dst);
        var output = new T[(long)dst.X * dst.Y * dst.Z];
        var ix = NearestIndex(shape.X, dst.X);
        var iy = NearestIndex(shape.Y, dst.Y);
        var iz = NearestIndex(shape.Z, dst.Z);
        int nx = shape.X, ny = shape.Y;
        CpuParallel.For(dst.Z, dst.X * (long)dst.Y, (k0, k1) =>
        {
            for (long k = k0; k < k1; k++)
                for (int j = 0; j < dst.Y; j++)
                {
                    long row = ((long)iz[k] * ny + iy[j]) * nx, o = (k * dst.Y + j) * dst.X;
                    for (int i = 0; i < dst.X; i++) output[o + i] = input[row + ix[i]];
                }
        });
        return output;
    }

    /// <summary>The affine of the resampled grid (see the class summary).</summary>
    public static double[,] Affine(double[,] affine, (int X, int Y, int Z) shape, (int X, int Y, int Z) dst)
    {
        double[] a = [shape.X / (double)dst.X, shape.Y / (double)dst.Y, shape.Z / (double)dst.Z];
        var r = new double[4, 4];
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 3; j++) r[i, j] = affine[i, j] * a[j];
            r[i, 3] = affine[i, 3] + affine[i, 0] * (a[0] - 1) / 2 + affine[i, 1] * (a[1] - 1) / 2 + affine[i, 2] * (a[2] - 1) / 2;
        }
        return r;
    }

    /// <summary>An image resampled (trilinear) to about the target spacing, header updated.</summary>
    public static NiftiImage<float> ToSpacing(NiftiImage<float> image, (double X, double Y, double Z) target) =>
        ToShape(image, ShapeFor(image.Shape, image.Spacing, target));

    /// <summary>A label map resampled (nearest) to about the target spacing, header updated.</summary>
    public static NiftiImage<byte> LabelsToSpacing(NiftiImage<byte> labels, (double X, double Y, double Z) target) =>
        LabelsToShape(labels, ShapeFor(labels.Shape, labels.Spacing, target));

    public static NiftiImage<float> ToShape(NiftiImage<float> image, (int X, int Y, int Z) dst) =>
        new(Header(image.Header, dst), Linear(image.Data, image.Shape, dst), image.Path);

    public static NiftiImage<byte> LabelsToShape(NiftiImage<byte> labels, (int X, int Y, int Z) dst) =>
        new(Header(labels.Header, dst), Nearest(labels.Data, labels.Shape, dst), labels.Path);

    private static NiftiHeader Header(NiftiHeader h, (int X, int Y, int Z) dst)
    {
        if (dst.X > short.MaxValue || dst.Y > short.MaxValue || dst.Z > short.MaxValue)
            throw new ArgumentException($"resampled shape {dst} exceeds NIfTI-1's {short.MaxValue} per axis");
        var r = h.Clone();
        var shape = h.Shape;
        var affine = Affine(h.Affine(), shape, dst);
        r.Dim[0] = Math.Max(r.Dim[0], (short)3);
        r.Dim[1] = (short)dst.X;
        r.Dim[2] = (short)dst.Y;
        r.Dim[3] = (short)dst.Z;
        short q = h.QFormCode, s = h.SFormCode;
        r.SetAffine(affine, s > 0 ? s : q > 0 ? q : (short)0);
        // Keep each transform's code as it was; a file with neither keeps pixdim only.
        r.QFormCode = q;
        r.SFormCode = s;
        r.PixDim[1] = (float)(h.Spacing.X * shape.X / dst.X);
        r.PixDim[2] = (float)(h.Spacing.Y * shape.Y / dst.Y);
        r.PixDim[3] = (float)(h.Spacing.Z * shape.Z / dst.Z);
        return r;
    }

    private static void Check(int length, (int X, int Y, int Z) shape, (int X, int Y, int Z) dst)
    {
        if ((long)shape.X * shape.Y * shape.Z != length || shape.X < 1 || shape.Y < 1 || shape.Z < 1)
            throw new ArgumentException($"resampling: {length} voxels do not make shape {shape}");
        if (dst.X < 1 || dst.Y < 1 || dst.Z < 1) throw new ArgumentException($"resampling: target shape {dst} must be positive");
    }

    /// <summary>The input coordinate of output voxel i, clamped to [0, n − 1].</summary>
    internal static double Source(int i, int n, int m) => Math.Clamp((i + 0.5) * n / m - 0.5, 0, n - 1);

    private static (int[] Index, float[] Frac) Weights(int n, int m)
    {
        var idx = new int[m];
        var frac = new float[m];
        for (int i = 0; i < m; i++)
        {
            double s = Source(i, n, m);
            int f = Math.Min((int)Math.Floor(s), n - 1);
            idx[i] = f;
            frac[i] = (float)(s - f);
        }
        return (idx, frac);
    }

    private static int[] NearestIndex(int n, int m)
    {
        var idx = new int[m];
        // floor(s + ½) rather than banker's rounding: ties go up, the same way everywhere.
        for (int i = 0; i < m; i++) idx[i] = Math.Min(n - 1, (int)Math.Floor(Source(i, n, m) + 0.5));
        return idx;
    }
}
