namespace Kernels.Nets.Metrics.Lits;

/// <summary>A box of a volume: first voxel and extent. Extraction pads it by one background voxel on
/// every side, which stands for the outside of the volume (background, as the scorer's erosion
/// assumes) or for voxels outside the objects' bounding box (background for them too).</summary>
internal readonly record struct Box(int X0, int Y0, int Z0, int Nx, int Ny, int Nz)
{
    public static Box FromBounds(int x0, int x1, int y0, int y1, int z0, int z1) =>
        new(x0, y0, z0, x1 - x0 + 1, y1 - y0 + 1, z1 - z0 + 1);

    public bool IsEmpty => Nx <= 0 || Ny <= 0 || Nz <= 0;

    public VolumeShape Padded => new(Nx + 2, Ny + 2, Nz + 2);
}

/// <summary>Running bounds of a set of voxels.</summary>
internal struct Bounds
{
    public int X0, X1, Y0, Y1, Z0, Z1;

    public static Bounds Empty => new() { X0 = int.MaxValue, Y0 = int.MaxValue, Z0 = int.MaxValue, X1 = -1, Y1 = -1, Z1 = -1 };

    public readonly bool IsEmpty => X1 < 0;

    public void Add(int x, int y, int z)
    {
        if (x < X0) X0 = x;
        if (x > X1) X1 = x;
        if (y < Y0) Y0 = y;
        if (y > Y1) Y1 = y;
        if (z < Z0) Z0 = z;
        if (z > Z1) Z1 = z;
    }

    public readonly Box ToBox() => IsEmpty ? default : Box.FromBounds(X0, X1, Y0, Y1, Z0, Z1);
}

/// <summary>Dice, Jaccard, VOE, RVD and the surface distances of two binary masks held in a padded
/// box (zeros on its outer layer), exactly as PAPERS.md section 7 defines them.</summary>
internal static class PairScoring
{
    // The 18-neighbourhood: 6 faces and 12 edges (the centre is the voxel itself).
    private static int[] Neighbours18(VolumeShape s)
    {
        int dx = 1, dy = s.X, dz = s.X * s.Y;
        var list = new List<int> { dx, -dx, dy, -dy, dz, -dz };
        foreach (int a in new[] { dx, -dx })
        foreach (int b in new[] { dy, -dy })
            list.Add(a + b);
        foreach (int a in new[] { dx, -dx })
        foreach (int b in new[] { dz, -dz })
            list.Add(a + b);
        foreach (int a in new[] { dy, -dy })
        foreach (int b in new[] { dz, -dz })
            list.Add(a + b);
        return [.. list];
    }

    /// <summary>p and r are 0/1 over the padded box <paramref name="padded"/>.</summary>
    public static SegmentationScores Score(byte[] p, byte[] r, VolumeShape padded, VoxelSpacing spacing)
    {
        long np = 0, nr = 0, inter = 0;
        for (int i = 0; i < p.Length; i++)
        {
            np += p[i];
            nr += r[i];
            inter += p[i] & r[i];
        }
        if (np == 0 || nr == 0) return SegmentationScores.EmptySide;
        double dice = 2.0 * inter / (np + nr);
        double jaccard = dice / (2.0 - dice);
        double rvd = (nr - np) / (double)np;

        var nb = Neighbours18(padded);
        var surfP = Surface(p, padded, nb);
        var surfR = Surface(r, padded, nb);
        var f = new double[p.Length];
        var (sumPr, sqPr, maxPr) = Directed(surfP, surfR, f, padded, spacing);
        var (sumRp, sqRp, maxRp) = Directed(surfR, surfP, f, padded, spacing);
        double count = surfP.Count + surfR.Count;
        return new SegmentationScores(dice, jaccard, 1.0 - jaccard, rvd,
            (sumPr + sumRp) / count, Math.Sqrt((sqPr + sqRp) / count), Math.Max(maxPr, maxRp));
    }

    /// <summary>Voxels of the mask that the 18-neighbourhood erosion removes (mask XOR erosion).</summary>
    private static unsafe List<int> Surface(byte[] m, VolumeShape s, int[] nb)
    {
        var list = new List<int>();
        int sx = s.X, sxy = s.X * s.Y;
        // The padding layer is zero, so only interior voxels can be in the mask and all their
        // neighbours are inside the array.
        fixed (byte* mp = m)
        fixed (int* np = nb)
        {
            for (int z = 1; z < s.Z - 1; z++)
            for (int y = 1; y < s.Y - 1; y++)
            {
                int row = z * sxy + y * sx;
                for (int x = 1; x < s.X - 1; x++)
                {
                    int i = row + x;
                    if (mp[i] == 0) continue;
                    byte* c = mp + i;
                    for (int k = 0; k < 18; k++)
                    {
                        if (c[np[k]] == 0)
                        {
                            list.Add(i);
                            break;
                        }
                    }
                }
            }
        }
        return list;
    }

    /// <summary>Distances from each voxel of <paramref name="from"/> to the nearest voxel of
    /// <paramref name="to"/>: their sum, the sum of their squares and their maximum.</summary>
    private static (double Sum, double SumSq, double Max) Directed(List<int> from, List<int> to, double[] f, VolumeShape s, VoxelSpacing spacing)
    {
        Array.Fill(f, double.PositiveInfinity);
        foreach (int i in to) f[i] = 0;
        DistanceTransform.SquaredInPlace(f, s, spacing);
        double sum = 0, sq = 0, max = 0;
        foreach (int i in from)
        {
            double d2 = f[i];
            double d = Math.Sqrt(d2);
            sum += d;
            sq += d2;
            if (d > max) max = d;
        }
        return (sum, sq, max);
    }
}
