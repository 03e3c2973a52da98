using Kernels.Cpu;

namespace Kernels.Nets.Metrics.Lits;

/// <summary>Exact squared Euclidean distance transform with anisotropic voxel spacing, by
/// Felzenszwalb and Huttenlocher's separable lower envelope of parabolas: one 1-D pass per axis,
/// each O(n) per line, so O(voxels) in all.</summary>
public static class DistanceTransform
{
    /// <summary>On entry <paramref name="f"/> holds 0 at the feature voxels and +∞ elsewhere; on return
    /// the squared distance in mm² from each voxel to the nearest feature voxel (+∞ when there is
    /// none). Layout x fastest.</summary>
    public static void SquaredInPlace(Span<double> f, VolumeShape shape, VoxelSpacing spacing)
    {
        if (f.Length != shape.Voxels)
            throw new ArgumentException($"DistanceTransform: {f.Length} values for a {shape} volume");
        int nx = shape.X, ny = shape.Y, nz = shape.Z;
        // Spans cannot cross into the parallel lambdas: pin the data and pass a pointer.
        unsafe
        {
            fixed (double* p = f)
            {
                var data = (nint)p;
                RowPass(data, nx, (long)ny * nz, spacing.X * spacing.X);
                Pass(data, ny, nx, (long)nx * nz, line => (line / nx) * (long)nx * ny + line % nx, spacing.Y * spacing.Y);
                Pass(data, nz, (long)nx * ny, (long)nx * ny, line => line, spacing.Z * spacing.Z);
            }
        }
    }

    /// <summary>The first pass, on the binary input: along a row the squared distance is simply w·(the
    /// distance to the nearest feature of the row)², found by one sweep each way.</summary>
    private static unsafe void RowPass(nint data, int n, long rows, double w)
    {
        CpuParallel.For(rows, 2L * n, (s, e) =>
        {
            var basePtr = (double*)data;
            for (long l = s; l < e; l++)
            {
                double* row = basePtr + l * n;
                int last = -1;
                for (int k = 0; k < n; k++)
                {
                    if (row[k] == 0) last = k;
                    else if (last >= 0) row[k] = k - last;   // distance in voxels for now
                }
                if (last < 0) continue;                      // no feature: the row stays +∞
                int next = -1;
                for (int k = n - 1; k >= 0; k--)
                {
                    double v = row[k];
                    if (v == 0)
                    {
                        next = k;
                        continue;
                    }
                    double d = double.IsPositiveInfinity(v) ? next - k : (next >= 0 ? Math.Min(v, next - k) : v);
                    row[k] = w * d * d;
                }
            }
        });
    }

    /// <summary>Runs the 1-D transform on <paramref name="lines"/> lines of <paramref name="n"/>
    /// values, element k of line l at start(l) + k·stride.</summary>
    private static unsafe void Pass(nint data, int n, long stride, long lines, Func<long, long> start, double w)
    {
        CpuParallel.For(lines, 4L * n, (s, e) =>
        {
            var line = new double[n];
            var outLine = new double[n];
            var v = new int[n];
            var z = new double[n + 1];
            var h = new double[n];
            var basePtr = (double*)data;
            for (long l = s; l < e; l++)
            {
                long o = start(l);
                for (int k = 0; k < n; k++) line[k] = basePtr[o + k * stride];
                Envelope(line, outLine, v, z, h, w);
                for (int k = 0; k < n; k++) basePtr[o + k * stride] = outLine[k];
            }
        });
    }

    /// <summary>d(q) = min over p of w·(q − p)² + f(p); points with f = +∞ take no part.</summary>
    private static void Envelope(double[] f, double[] d, int[] v, double[] z, double[] h, double w)
    {
        int n = f.Length, k = -1;
        for (int q = 0; q < n; q++)
        {
            if (double.IsPositiveInfinity(f[q])) continue;
            double fq = f[q] + w * q * q;
            while (k >= 0)
            {
                int p = v[k];
                double s = (fq - h[k]) / (2 * w * (q - p));
                if (s <= z[k])
                {
                    k--;
                    continue;
                }
                k++;
                v[k] = q;
                h[k] = fq;
                z[k] = s;
                z[k + 1] = double.PositiveInfinity;
                goto placed;
            }
            k = 0;
            v[0] = q;
            h[0] = fq;
            z[0] = double.NegativeInfinity;
            z[1] = double.PositiveInfinity;
        placed:;
        }
        if (k < 0)
        {
            Array.Fill(d, double.PositiveInfinity);
            return;
        }
        for (int q = 0, j = 0; q < n; q++)
        {
            while (z[j + 1] < q) j++;
            double dq = q - v[j];
            d[q] = w * dq * dq + f[v[j]];
        }
    }
}
