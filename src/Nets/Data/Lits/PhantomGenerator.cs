using Kernels.Cpu;
using Kernels.Nets.Data.Nifti;

namespace Kernels.Nets.Data.Lits;

/// <summary>Seeded LiTS-like phantoms: an abdominal CT slab in HU (air, fat, muscle, ribs and
/// spine, aorta and IVC, kidneys, spleen, stomach with air, bowel and fat, lung bases and heart
/// above a domed diaphragm) with a liver made of three deformed superellipsoids, its portal and
/// hepatic vessels, an optional gallbladder, and 1–6 lesions of four kinds whose radii run from
/// about a voxel to centimetres; then a slight blur and Gaussian noise. Case i of seed s is the
/// same whatever the number of cases or threads.</summary>
public static class PhantomGenerator
{
    public static PhantomCase Generate(PhantomOptions options, ulong seed, int index)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var rng = new Rng(CaseSeed(seed, index));
        int nx = options.X, ny = options.Y, nz = options.Z;
        double U(double a, double b) => a + (b - a) * rng.NextDouble();
        double fov = U(options.FovMm.Min, options.FovMm.Max), cover = U(options.ZCoverageMm.Min, options.ZCoverageMm.Max);
        var spacing = options.Spacing ?? (fov / Math.Max(nx, ny), fov / Math.Max(nx, ny), cover / nz);
        var anatomy = new PhantomAnatomy(rng, spacing.X * nx, spacing.Y * ny, spacing.Z * nz);

        long n = (long)nx * ny * nz;
        var hu = new float[n];
        var labels = new byte[n];
        double ox = (nx - 1) / 2.0, oy = (ny - 1) / 2.0, oz = (nz - 1) / 2.0;
        CpuParallel.For(nz, (long)nx * ny * 40, (k0, k1) =>
        {
            for (long k = k0; k < k1; k++)
            {
                double z = (k - oz) * spacing.Z;
                for (int j = 0; j < ny; j++)
                {
                    double y = (j - oy) * spacing.Y;
                    long row = (k * ny + j) * nx;
                    for (int i = 0; i < nx; i++)
                    {
                        var (h, l) = anatomy.Sample((i - ox) * spacing.X, y, z);
                        hu[row + i] = (float)h;
                        labels[row + i] = l;
                    }
                }
            }
        });

        var classes = new byte[n];
        var ids = new byte[n];
        var lesions = PlaceLesions(rng, options, anatomy, spacing, (nx, ny, nz), hu, labels, classes, ids);

        Blur(hu, nx, ny, nz, options.BlurVoxels, options.BlurVoxels / 2);
        double sigma = U(options.NoiseHu.Min, options.NoiseHu.Max);
        var noise = new double[n];
        rng.FillNormal(noise, 0, sigma);
        for (long v = 0; v < n; v++) hu[v] = MathF.Max(-1024f, hu[v] + (float)noise[v]);
        return new PhantomCase(index, (nx, ny, nz), spacing, hu, labels, classes, ids, lesions);
    }

    /// <summary>Writes cases 0..count-1 as volume-N.nii (int16 HU) and segmentation-N.nii (uint8) in
    /// the LiTS layout (.nii.gz with <paramref name="gzip"/>); with <paramref name="classes"/> also
    /// lesion-classes-N.nii. Calls <paramref name="progress"/> with a line per case.</summary>
    public static void WriteSet(string dir, int count, ulong seed, PhantomOptions options, bool gzip = false, bool classes = false, Action<string>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        options.Validate();
        Directory.CreateDirectory(dir);
        string ext = gzip ? ".nii.gz" : ".nii";
        for (int c = 0; c < count; c++)
        {
            var t = System.Diagnostics.Stopwatch.StartNew();
            var pc = Generate(options, seed, c);
            NiftiWriter.Write(Path.Combine(dir, LitsLayout.VolumeName(c, ext)), pc.VolumeImage(), NiftiDataType.Int16);
            NiftiWriter.Write(Path.Combine(dir, LitsLayout.SegmentationName(c, ext)), pc.SegmentationImage(), NiftiDataType.UInt8);
            if (classes) NiftiWriter.Write(Path.Combine(dir, $"lesion-classes-{c}{ext}"), pc.LesionClassImage(), NiftiDataType.UInt8);
            long liver = 0, lesion = 0;
            foreach (var l in pc.Labels) { if (l >= 1) liver++; if (l == 2) lesion++; }
            var kinds = string.Join(" ", pc.Lesions.Select(l => $"{l.Kind.ToString().ToLowerInvariant()}:{l.RadiusMm:0}mm/{l.Voxels}"));
            progress?.Invoke($"case {c + 1}/{count}: volume-{c}{ext} {pc.Shape.X}x{pc.Shape.Y}x{pc.Shape.Z} " +
                             $"spacing {pc.Spacing.X:0.00}x{pc.Spacing.Y:0.00}x{pc.Spacing.Z:0.00} mm, liver {liver} voxels, " +
                             $"{pc.Lesions.Count} lesions ({lesion} voxels: {kinds}), {t.Elapsed.TotalSeconds:0.00} s");
        }
    }

    internal static ulong CaseSeed(ulong seed, int index)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (ulong)(index + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static PhantomLesion[] PlaceLesions(Rng rng, PhantomOptions o, PhantomAnatomy anatomy, (double X, double Y, double Z) sp,
                                                (int X, int Y, int Z) shape, float[] hu, byte[] labels, byte[] classes, byte[] ids)
    {
        double U(double a, double b) => a + (b - a) * rng.NextDouble();
        var (nx, ny, nz) = shape;
        double ox = (nx - 1) / 2.0, oy = (ny - 1) / 2.0, oz = (nz - 1) / 2.0;
        byte LabelAt(double x, double y, double z)
        {
            int i = (int)Math.Round(x / sp.X + ox), j = (int)Math.Round(y / sp.Y + oy), k = (int)Math.Round(z / sp.Z + oz);
            if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) return 0;
            return labels[i + (long)nx * (j + (long)ny * k)];
        }
        // Liver voxels to draw centres from.
        var liverVoxels = new List<long>();
        for (long v = 0; v < labels.LongLength; v++) if (labels[v] == 1) liverVoxels.Add(v);
        int want = o.MinLesions + rng.NextInt(o.MaxLesions - o.MinLesions + 1);
        var placed = new List<(Lesion L, PhantomLesionKind Kind)>();
        if (liverVoxels.Count == 0) want = 0;
        double rMin = Math.Max(o.LesionRadiusMm.Min, Math.Max(sp.X, sp.Y)), rMax = Math.Max(rMin, o.LesionRadiusMm.Max);
        for (int attempt = 0; placed.Count < want && attempt < 200 * Math.Max(1, want); attempt++)
        {
            // The first lesion is a dominant one (half to all of the largest radius), the rest
            // log-uniform: satellites of a few voxels up to centimetres.
            double r = placed.Count == 0 ? rMax * U(0.45, 1.0) : rMin * Math.Exp(rng.NextDouble() * Math.Log(rMax / rMin));
            if (attempt > 100) r = Math.Max(rMin, r * 100 / attempt);
            long v = liverVoxels[rng.NextInt(liverVoxels.Count)];
            int ci = (int)(v % nx), cj = (int)(v / nx % ny), ck = (int)(v / ((long)nx * ny));
            var c = (X: (ci - ox + U(-0.5, 0.5)) * sp.X, Y: (cj - oy + U(-0.5, 0.5)) * sp.Y, Z: (ck - oz + U(-0.5, 0.5)) * sp.Z);
            // Mostly inside the liver: six points at 0.6 r must be liver too (vessels count as liver).
            double q = 0.6 * r;
            if (LabelAt(c.X + q, c.Y, c.Z) != 1 || LabelAt(c.X - q, c.Y, c.Z) != 1 || LabelAt(c.X, c.Y + q, c.Z) != 1 ||
                LabelAt(c.X, c.Y - q, c.Z) != 1 || LabelAt(c.X, c.Y, c.Z + q) != 1 || LabelAt(c.X, c.Y, c.Z - q) != 1)
                continue;
            if (placed.Any(p => Dist(p.L.X, p.L.Y, p.L.Z, c.X, c.Y, c.Z) < 1.15 * (p.L.R + r) + Math.Max(sp.X, sp.Z))) continue;
            double u = rng.NextDouble();
            var kind = u < 0.4 ? PhantomLesionKind.Metastasis : u < 0.55 ? PhantomLesionKind.HyperDense : u < 0.8 ? PhantomLesionKind.Cyst : PhantomLesionKind.Hemangioma;
            placed.Add((Lesion.Draw(rng, kind, c.X, c.Y, c.Z, r, anatomy.LiverHu, anatomy.VesselHu, Math.Max(sp.X, sp.Y)), kind));
        }

        var result = new PhantomLesion[placed.Count];
        for (int li = 0; li < placed.Count; li++)
        {
            var (les, kind) = placed[li];
            byte id = (byte)(li + 1), cls = LesionClass.Of(kind);
            double reach = les.R * 1.6; // bounding half-size, lobulation and soft edges included
            int i0 = Math.Max(0, (int)Math.Floor((les.X - reach) / sp.X + ox)), i1 = Math.Min(nx - 1, (int)Math.Ceiling((les.X + reach) / sp.X + ox));
            int j0 = Math.Max(0, (int)Math.Floor((les.Y - reach) / sp.Y + oy)), j1 = Math.Min(ny - 1, (int)Math.Ceiling((les.Y + reach) / sp.Y + oy));
            int k0 = Math.Max(0, (int)Math.Floor((les.Z - reach) / sp.Z + oz)), k1 = Math.Min(nz - 1, (int)Math.Ceiling((les.Z + reach) / sp.Z + oz));
            int count = 0;
            for (int k = k0; k <= k1; k++)
                for (int j = j0; j <= j1; j++)
                    for (int i = i0; i <= i1; i++)
                    {
                        long v = i + (long)nx * (j + (long)ny * k);
                        if (labels[v] == 0 || ids[v] != 0) continue;
                        double x = (i - ox) * sp.X, y = (j - oy) * sp.Y, z = (k - oz) * sp.Z;
                        double rho = les.Rho(x, y, z);
                        if (rho < 1)
                        {
                            labels[v] = 2;
                            classes[v] = cls;
                            ids[v] = id;
                            hu[v] = (float)les.Hu(rho, x, y, z);
                            count++;
                        }
                        else if (rho < les.SoftEdge && labels[v] == 1)
                        {
                            // A soft edge fades into the liver outside the label.
                            double t = (rho - 1) / (les.SoftEdge - 1);
                            hu[v] = (float)(les.Hu(1, x, y, z) * (1 - t) + hu[v] * t);
                        }
                    }
            result[li] = new PhantomLesion(id, kind, les.X / sp.X + ox, les.Y / sp.Y + oy, les.Z / sp.Z + oz, les.R, count);
        }
        return result;
    }

    private static double Dist(double ax, double ay, double az, double bx, double by, double bz) =>
        Math.Sqrt((ax - bx) * (ax - bx) + (ay - by) * (ay - by) + (az - bz) * (az - bz));

    /// <summary>Separable Gaussian blur (edges clamped), sigma in voxels in-plane and along z.</summary>
    internal static void Blur(float[] v, int nx, int ny, int nz, double sigmaXy, double sigmaZ)
    {
        var tmp = new float[v.Length];
        if (sigmaXy > 0)
        {
            Pass(v, tmp, nx, ny, nz, Kernel(sigmaXy), 1, nx);
            Pass(tmp, v, nx, ny, nz, Kernel(sigmaXy), nx, ny);
        }
        if (sigmaZ > 0 && nz > 1)
        {
            Pass(v, tmp, nx, ny, nz, Kernel(sigmaZ), (long)nx * ny, nz);
            Array.Copy(tmp, v, v.Length);
        }
    }

    private static float[] Kernel(double sigma)
    {
        int r = Math.Max(1, (int)Math.Ceiling(2.5 * sigma));
        var k = new float[2 * r + 1];
        double sum = 0;
        for (int i = -r; i <= r; i++) sum += Math.Exp(-i * i / (2 * sigma * sigma));
        for (int i = -r; i <= r; i++) k[i + r] = (float)(Math.Exp(-i * i / (2 * sigma * sigma)) / sum);
        return k;
    }

    /// <summary>One 1-D pass along the axis with the given stride and length.</summary>
    private static void Pass(float[] src, float[] dst, int nx, int ny, int nz, float[] k, long stride, int len)
    {
        int r = k.Length / 2;
        long n = src.LongLength;
        CpuParallel.For(nz, (long)nx * ny * k.Length, (z0, z1) =>
        {
            for (long v = z0 * nx * ny; v < z1 * nx * ny; v++)
            {
                long pos = v / stride % len;
                long line = v - pos * stride;
                float acc = 0;
                for (int t = -r; t <= r; t++)
                {
                    long p = Math.Clamp(pos + t, 0, len - 1);
                    acc += k[t + r] * src[line + p * stride];
                }
                dst[v] = acc;
            }
        });
        _ = n;
    }

    /// <summary>A lesion's shape (rotated, lobulated ellipsoid) and intensity profile.</summary>
    private sealed class Lesion
    {
        public double X, Y, Z, R, SoftEdge = 1;
        private double _ax, _ay, _az, _cos, _sin, _lobAmp, _lobPhase1, _lobPhase2;
        private int _lobK1, _lobK2;
        private PhantomLesionKind _kind;
        private double _inner, _rim, _core;
        private (double X, double Y, double Z, double R)[] _nodules = [];
        private double _noduleHu;

        public static Lesion Draw(Rng rng, PhantomLesionKind kind, double x, double y, double z, double r, double liverHu, double vesselHu, double voxelMm)
        {
            double U(double a, double b) => a + (b - a) * rng.NextDouble();
            bool round = kind == PhantomLesionKind.Cyst;
            var l = new Lesion
            {
                X = x, Y = y, Z = z, R = r, _kind = kind,
                _ax = r * (round ? U(0.9, 1.1) : U(0.75, 1.25)),
                _ay = r * (round ? U(0.9, 1.1) : U(0.75, 1.25)),
                _az = r * (round ? U(0.9, 1.1) : U(0.75, 1.25)),
                _lobAmp = round ? U(0, 0.04) : U(0.05, 0.18),
                _lobK1 = 2 + rng.NextInt(3), _lobK2 = 1 + rng.NextInt(3),
                _lobPhase1 = U(0, 2 * Math.PI), _lobPhase2 = U(0, 2 * Math.PI),
            };
            double a = U(0, Math.PI);
            (l._cos, l._sin) = (Math.Cos(a), Math.Sin(a));
            switch (kind)
            {
                case PhantomLesionKind.Metastasis:
                    l._inner = liverHu - U(25, 45);
                    l._rim = liverHu + U(10, 25);
                    l._core = r > 10 ? l._inner - U(10, 20) : l._inner;
                    l.SoftEdge = 1.1;
                    break;
                case PhantomLesionKind.HyperDense:
                    l._inner = liverHu + U(40, 70);
                    l.SoftEdge = 1.15;
                    break;
                case PhantomLesionKind.Cyst:
                    l._inner = U(0, 20);
                    break;
                case PhantomLesionKind.Hemangioma:
                    l._inner = liverHu - U(15, 30);
                    l._noduleHu = vesselHu + U(-10, 10);
                    int k = 4 + rng.NextInt(5);
                    l._nodules = new (double, double, double, double)[k];
                    for (int i = 0; i < k; i++)
                    {
                        double th = Math.Acos(2 * rng.NextDouble() - 1), ph = 2 * Math.PI * rng.NextDouble();
                        // Nodules at least about a voxel across, so small hemangiomas show them
                        // (and the smallest fill almost wholly, like flash-filling ones).
                        double nr = Math.Max(U(0.16, 0.28), 0.6 * voxelMm / r);
                        l._nodules[i] = (0.78 * Math.Sin(th) * Math.Cos(ph), 0.78 * Math.Sin(th) * Math.Sin(ph), 0.78 * Math.Cos(th), nr);
                    }
                    l.SoftEdge = 1.05;
                    break;
            }
            return l;
        }

        /// <summary>Normalised radius: below 1 inside.</summary>
        public double Rho(double x, double y, double z)
        {
            double dx = x - X, dy = y - Y, dz = z - Z;
            double u = (_cos * dx + _sin * dy) / _ax, w = (-_sin * dx + _cos * dy) / _ay, s = dz / _az;
            double rho = Math.Sqrt(u * u + w * w + s * s);
            if (_lobAmp > 0 && rho > 0)
            {
                double phi = Math.Atan2(w, u), cth = s / rho;
                rho /= 1 + _lobAmp * Math.Sin(_lobK1 * phi + _lobPhase1) * Math.Cos(_lobK2 * Math.PI * cth + _lobPhase2);
            }
            return rho;
        }

        public double Hu(double rho, double x, double y, double z)
        {
            switch (_kind)
            {
                case PhantomLesionKind.Metastasis:
                    if (rho > 0.88) return _rim; // a thin enhancing rim
                    return rho < 0.4 ? _core : _inner;
                case PhantomLesionKind.Hemangioma:
                    double dx = x - X, dy = y - Y, dz = z - Z;
                    double u = (_cos * dx + _sin * dy) / _ax, w = (-_sin * dx + _cos * dy) / _ay, s = dz / _az;
                    foreach (var nd in _nodules)
                    {
                        double ex = u - nd.X, ey = w - nd.Y, ez = s - nd.Z;
                        if (ex * ex + ey * ey + ez * ez < nd.R * nd.R) return _noduleHu;
                    }
                    return _inner;
                default:
                    return _inner;
            }
        }
    }
}
