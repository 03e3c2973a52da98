namespace Kernels.Nets.Data.Lits;

/// <summary>A volume prepared for patch sampling: the (normalised) image and labels, x fastest,
/// with the foreground (label ≥ 1) and lesion (label 2) voxel lists built once.</summary>
public sealed class TrainingVolume
{
    public TrainingVolume(float[] image, byte[] labels, (int X, int Y, int Z) shape, string? name = null)
    {
        long n = (long)shape.X * shape.Y * shape.Z;
        if (shape.X < 1 || shape.Y < 1 || shape.Z < 1 || image.LongLength != n || labels.LongLength != n)
            throw new ArgumentException($"training volume {name ?? ""}: shape {shape} needs {n} voxels, got image {image.LongLength} and labels {labels.LongLength}");
        Image = image;
        Labels = labels;
        Shape = shape;
        Name = name;
        var fg = new List<int>();
        var lesion = new List<int>();
        for (int v = 0; v < labels.Length; v++)
        {
            if (labels[v] >= 1) fg.Add(v);
            if (labels[v] == 2) lesion.Add(v);
        }
        Foreground = fg.ToArray();
        Lesion = lesion.ToArray();
    }

    public float[] Image { get; }
    public byte[] Labels { get; }
    public (int X, int Y, int Z) Shape { get; }
    public string? Name { get; }

    /// <summary>Indices of label ≥ 1 voxels.</summary>
    public int[] Foreground { get; }

    /// <summary>Indices of label 2 voxels.</summary>
    public int[] Lesion { get; }
}

/// <summary>Patch sampling and augmentation for 3-D training (nnU-Net-like defaults).</summary>
public sealed record LitsPatchOptions
{
    /// <summary>Patch size in voxels (x, y, z).</summary>
    public (int X, int Y, int Z) Size { get; init; } = (64, 64, 32);

    /// <summary>Share of patches centred on a foreground voxel (the rest: uniformly placed).</summary>
    public double ForegroundFraction { get; init; } = 0.33;

    /// <summary>Of the foreground-centred patches, the share centred on a lesion voxel (when the volume has any).</summary>
    public double LesionFraction { get; init; } = 0.5;

    /// <summary>Probability of mirroring each axis (x, y, z).</summary>
    public (double X, double Y, double Z) FlipProbability { get; init; } = (0.5, 0.5, 0.5);

    /// <summary>Probability of a rotation about z, and its angle range in degrees. The rotation is
    /// in voxel units, i.e. assumes equal x and y spacing (true of CT slices and of the phantoms).</summary>
    public double RotationProbability { get; init; } = 0.2;
    public (double Min, double Max) RotationDegrees { get; init; } = (-15, 15);

    /// <summary>Probability of the intensity augmentation (x·scale + shift + Gaussian noise).</summary>
    public double IntensityProbability { get; init; } = 0.5;
    public (double Min, double Max) Scale { get; init; } = (0.9, 1.1);
    public (double Min, double Max) Shift { get; init; } = (-0.1, 0.1);
    public (double Min, double Max) NoiseStd { get; init; } = (0, 0.05);

    /// <summary>Image value outside the volume (0 = the bottom of a [0, 1] HU window).</summary>
    public float PadValue { get; init; }

    public void Validate()
    {
        if (Size.X < 1 || Size.Y < 1 || Size.Z < 1) throw new ArgumentException($"patch size {Size}: each must be at least 1");
        static bool P(double p) => p is >= 0 and <= 1;
        if (!P(ForegroundFraction) || !P(LesionFraction) || !P(FlipProbability.X) || !P(FlipProbability.Y) || !P(FlipProbability.Z)
            || !P(RotationProbability) || !P(IntensityProbability))
            throw new ArgumentException("patch options: fractions and probabilities must be in [0, 1]");
        if (RotationDegrees.Max < RotationDegrees.Min || Scale.Max < Scale.Min || Shift.Max < Shift.Min || NoiseStd.Max < NoiseStd.Min || NoiseStd.Min < 0)
            throw new ArgumentException("patch options: every range needs min ≤ max (noise ≥ 0)");
    }
}

/// <summary>One sampled patch: image and labels (x fastest over Size, i.e. a [Z, Y, X] tensor),
/// where in the volume it came from and what was applied (for tests and debugging).</summary>
public sealed record LitsPatch(float[] Image, byte[] Labels, (int X, int Y, int Z) Size, (int X, int Y, int Z) Centre,
                           bool ForegroundCentred, double RotationDegrees, (bool X, bool Y, bool Z) Flipped);

/// <summary>Random patches with foreground oversampling, flips, a small rotation about z
/// (bilinear in-plane for the image, nearest for labels), and intensity scale / shift / noise.
/// Each patch's decisions are drawn first, always the same 13 values in the same order whatever
/// the options (so turning a flip or the rotation off leaves the other decisions of that patch
/// unchanged); the noise values, when noise is on, are drawn last. Same Rng state, same patch.</summary>
public sealed class LitsPatchSampler
{
    public LitsPatchSampler(LitsPatchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    public LitsPatchOptions Options { get; }

    public LitsPatch Sample(TrainingVolume volume, Rng rng)
    {
        var o = Options;
        var (nx, ny, nz) = volume.Shape;
        var (px, py, pz) = o.Size;

        // Fixed draw order: centre choice (3 + 1 values), flips (3), rotation (2), intensity (4).
        double uFg = rng.NextDouble(), uLes = rng.NextDouble(), uPick = rng.NextDouble();
        double ux = rng.NextDouble(), uy = rng.NextDouble(), uz = rng.NextDouble();
        bool fx = rng.NextDouble() < o.FlipProbability.X, fy = rng.NextDouble() < o.FlipProbability.Y, fz = rng.NextDouble() < o.FlipProbability.Z;
        bool rot = rng.NextDouble() < o.RotationProbability;
        double angle = o.RotationDegrees.Min + (o.RotationDegrees.Max - o.RotationDegrees.Min) * rng.NextDouble();
        bool inten = rng.NextDouble() < o.IntensityProbability;
        double scale = o.Scale.Min + (o.Scale.Max - o.Scale.Min) * rng.NextDouble();
        double shift = o.Shift.Min + (o.Shift.Max - o.Shift.Min) * rng.NextDouble();
        double noise = o.NoiseStd.Min + (o.NoiseStd.Max - o.NoiseStd.Min) * rng.NextDouble();
        if (!rot) angle = 0;

        // The patch centre (voxel (Size − 1)/2 of the patch, rounded down) in volume coordinates.
        int cx, cy, cz;
        bool fgCentred = uFg < o.ForegroundFraction && volume.Foreground.Length > 0;
        if (fgCentred)
        {
            var pool = uLes < o.LesionFraction && volume.Lesion.Length > 0 ? volume.Lesion : volume.Foreground;
            int v = pool[Math.Min(pool.Length - 1, (int)(uPick * pool.Length))];
            cx = v % nx;
            cy = v / nx % ny;
            cz = v / (nx * ny);
            // Keep the patch inside the volume where it fits (the chosen voxel stays in the patch).
            cx = Fit(cx, px, nx);
            cy = Fit(cy, py, ny);
            cz = Fit(cz, pz, nz);
        }
        else
        {
            cx = Uniform(ux, px, nx);
            cy = Uniform(uy, py, ny);
            cz = Uniform(uz, pz, nz);
        }

        var image = new float[(long)px * py * pz];
        var labels = new byte[image.LongLength];
        Extract(volume, (cx, cy, cz), o.Size, angle, image, labels);
        if (fx || fy || fz) Flip(image, labels, o.Size, fx, fy, fz);
        if (inten)
        {
            var n = new double[image.Length];
            if (noise > 0) rng.FillNormal(n, 0, noise);
            for (int i = 0; i < image.Length; i++) image[i] = (float)(image[i] * scale + shift + n[i]);
        }
        return new LitsPatch(image, labels, o.Size, (cx, cy, cz), fgCentred, angle, (fx, fy, fz));
    }

    /// <summary>A batch of patches from volumes chosen uniformly, as one [B, 1, Z, Y, X] image
    /// array and one [B, Z, Y, X] label array (x fastest).</summary>
    public (float[] Images, byte[] Labels) Batch(IReadOnlyList<TrainingVolume> volumes, int batch, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        if (volumes.Count == 0) throw new ArgumentException("patch batch: no volumes");
        var (px, py, pz) = Options.Size;
        int per = px * py * pz;
        var images = new float[(long)batch * per];
        var labels = new byte[(long)batch * per];
        for (int b = 0; b < batch; b++)
        {
            var p = Sample(volumes[rng.NextInt(volumes.Count)], rng);
            p.Image.CopyTo(images, (long)b * per);
            p.Labels.CopyTo(labels, (long)b * per);
        }
        return (images, labels);
    }

    private static int Half(int p) => (p - 1) / 2;

    /// <summary>A centre that keeps the patch inside the volume when it fits, centred otherwise.</summary>
    private static int Fit(int c, int p, int n)
    {
        if (p >= n) return Half(p) - (p - n) / 2; // the volume centred in the patch, padded on both sides
        return Math.Clamp(c, Half(p), n - p + Half(p));
    }

    private static int Uniform(double u, int p, int n)
    {
        if (p >= n) return Fit(0, p, n);
        int start = Math.Min(n - p, (int)(u * (n - p + 1)));
        return start + Half(p);
    }

    /// <summary>Copies the patch around the centre, rotated about z by <paramref name="degrees"/>
    /// (about the patch centre); outside the volume: pad value and label 0.</summary>
    private void Extract(TrainingVolume v, (int X, int Y, int Z) c, (int X, int Y, int Z) size, double degrees, float[] image, byte[] labels)
    {
        var (nx, ny, nz) = v.Shape;
        var (px, py, pz) = size;
        int ox = c.X - Half(px), oy = c.Y - Half(py), oz = c.Z - Half(pz);
        float pad = Options.PadValue;
        var src = v.Image;
        var lab = v.Labels;
        if (degrees == 0)
        {
            for (int k = 0; k < pz; k++)
                for (int j = 0; j < py; j++)
                {
                    int z = oz + k, y = oy + j;
                    long o = ((long)k * py + j) * px;
                    bool rowInside = z >= 0 && z < nz && y >= 0 && y < ny;
                    for (int i = 0; i < px; i++)
                    {
                        int x = ox + i;
                        if (rowInside && x >= 0 && x < nx)
                        {
                            long s = x + (long)nx * (y + (long)ny * z);
                            image[o + i] = src[s];
                            labels[o + i] = lab[s];
                        }
                        else image[o + i] = pad;
                    }
                }
            return;
        }
        double a = degrees * Math.PI / 180, cos = Math.Cos(a), sin = Math.Sin(a);
        double hx = (px - 1) / 2.0, hy = (py - 1) / 2.0;
        // The rotation centre in volume coordinates: the patch's geometric centre.
        double cxv = ox + hx, cyv = oy + hy;
        for (int k = 0; k < pz; k++)
        {
            int z = oz + k;
            bool zInside = z >= 0 && z < nz;
            for (int j = 0; j < py; j++)
            {
                long o = ((long)k * py + j) * px;
                for (int i = 0; i < px; i++)
                {
                    double dx = i - hx, dy = j - hy;
                    double sx = cxv + cos * dx - sin * dy, sy = cyv + sin * dx + cos * dy;
                    if (!zInside || sx < -0.5 || sy < -0.5 || sx > nx - 0.5 || sy > ny - 0.5)
                    {
                        image[o + i] = pad;
                        continue;
                    }
                    // Labels: nearest; image: bilinear (clamped at the border).
                    int rx = Math.Clamp((int)Math.Floor(sx + 0.5), 0, nx - 1), ry = Math.Clamp((int)Math.Floor(sy + 0.5), 0, ny - 1);
                    long plane = (long)nx * ny * z;
                    labels[o + i] = lab[plane + (long)ry * nx + rx];
                    double cx0 = Math.Clamp(sx, 0, nx - 1), cy0 = Math.Clamp(sy, 0, ny - 1);
                    int x0 = Math.Min((int)Math.Floor(cx0), nx - 1), y0 = Math.Min((int)Math.Floor(cy0), ny - 1);
                    int x1 = Math.Min(x0 + 1, nx - 1), y1 = Math.Min(y0 + 1, ny - 1);
                    double tx = cx0 - x0, ty = cy0 - y0;
                    double v00 = src[plane + (long)y0 * nx + x0], v01 = src[plane + (long)y0 * nx + x1];
                    double v10 = src[plane + (long)y1 * nx + x0], v11 = src[plane + (long)y1 * nx + x1];
                    image[o + i] = (float)((v00 + tx * (v01 - v00)) * (1 - ty) + (v10 + tx * (v11 - v10)) * ty);
                }
            }
        }
    }

    private static void Flip(float[] image, byte[] labels, (int X, int Y, int Z) size, bool fx, bool fy, bool fz)
    {
        var (px, py, pz) = size;
        var img = (float[])image.Clone();
        var lab = (byte[])labels.Clone();
        for (int k = 0; k < pz; k++)
            for (int j = 0; j < py; j++)
                for (int i = 0; i < px; i++)
                {
                    long d = i + (long)px * (j + (long)py * k);
                    long s = (fx ? px - 1 - i : i) + (long)px * ((fy ? py - 1 - j : j) + (long)py * (fz ? pz - 1 - k : k));
                    image[d] = img[s];
                    labels[d] = lab[s];
                }
    }
}
