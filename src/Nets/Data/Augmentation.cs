using System.Buffers;

namespace Kernels.Nets.Data;

/// <summary>Training-time image augmentation of the ML-Decoder recipe (PAPERS.md section 1):
/// Cutout (one rectangle of <see cref="CutoutFraction"/> of the side, random colour) and a
/// RandAugment-style policy (<see cref="RandAugmentOps"/> ops drawn uniformly from
/// <see cref="RandAugmentOpNames"/>, each at a magnitude drawn uniformly in [0, M/10]). Applied
/// per image on the CPU, on planar [3, S, S] images in [0, 1], before upload; the result stays in
/// [0, 1]. Cutout runs first, then RandAugment (the reference's order).</summary>
public sealed record AugmentationOptions
{
    public bool Cutout { get; init; }

    /// <summary>Side of the Cutout box as a fraction of the image side (the reference: 0.5).</summary>
    public double CutoutFraction { get; init; } = 0.5;

    /// <summary>Fill the box with a random colour (the reference) or with grey 0.5.</summary>
    public bool CutoutRandomFill { get; init; } = true;

    public bool RandAugment { get; init; }

    /// <summary>Ops applied per image (RandAugment's N).</summary>
    public int RandAugmentOps { get; init; } = 2;

    /// <summary>Largest magnitude, 0 to 10 (RandAugment's M); each op draws its own in [0, M].</summary>
    public int RandAugmentMagnitude { get; init; } = 9;

    /// <summary>The ops of the policy, by index.</summary>
    public static readonly string[] RandAugmentOpNames =
        ["identity", "brightness", "contrast", "flip", "translate-x", "translate-y", "rotate", "posterize", "solarize", "autocontrast"];

    public static AugmentationOptions None { get; } = new();

    /// <summary>The paper's recipe: Cutout and RandAugment.</summary>
    public static AugmentationOptions Recipe { get; } = new() { Cutout = true, RandAugment = true };

    public bool Any => Cutout || RandAugment;

    /// <summary>"none", "cutout", "randaugment", or "cutout+randaugment" (also "recipe" / "all").</summary>
    public static AugmentationOptions Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var result = None;
        foreach (var part in spec.ToLowerInvariant().Split(['+', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            result = part switch
            {
                "none" => result,
                "cutout" => result with { Cutout = true },
                "randaugment" => result with { RandAugment = true },
                "recipe" or "all" => result with { Cutout = true, RandAugment = true },
                _ => throw new ArgumentException($"--augment '{spec}': use none, cutout, randaugment or cutout+randaugment"),
            };
        return result;
    }

    public void Validate()
    {
        if (!(CutoutFraction > 0 && CutoutFraction <= 1))
            throw new ArgumentException($"Augmentation: CutoutFraction {CutoutFraction} must be in (0, 1]");
        if (RandAugmentOps < 0 || RandAugmentOps > 10) throw new ArgumentException($"Augmentation: RandAugmentOps {RandAugmentOps} must be in [0, 10]");
        if (RandAugmentMagnitude < 0 || RandAugmentMagnitude > 10)
            throw new ArgumentException($"Augmentation: RandAugmentMagnitude {RandAugmentMagnitude} must be in [0, 10]");
    }

    public override string ToString() => !Any ? "none" : string.Join("+", new[] { Cutout ? "cutout" : null, RandAugment ? "randaugment" : null }.OfType<string>());
}

/// <summary>Applies <see cref="AugmentationOptions"/>. Every random choice comes from the
/// <see cref="Rng"/> passed in, so the same generator state gives the same images. A batch draws
/// one seed per image from the caller's generator first, then augments the images in parallel,
/// each with its own generator: the result does not depend on the thread count.</summary>
public sealed class ImageAugmenter
{
    public ImageAugmenter(AugmentationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    public AugmentationOptions Options { get; }

    /// <summary>Augments <paramref name="count"/> planar [3, S, S] images stored back to back.</summary>
    public void ApplyBatch(float[] images, int count, int size, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (!Options.Any) return;
        int plane = 3 * size * size;
        if (images.Length != (long)count * plane)
            throw new ArgumentException($"ImageAugmenter.ApplyBatch: {images.Length} values, expected [{count}, 3, {size}, {size}]", nameof(images));
        var seeds = new ulong[count];
        for (int i = 0; i < count; i++) seeds[i] = rng.NextUInt64();
        Parallel.For(0, count, i => Apply(images.AsSpan(i * plane, plane), size, new Rng(seeds[i])));
    }

    /// <summary>Augments one planar [3, S, S] image in place.</summary>
    public void Apply(Span<float> image, int size, Rng rng)
    {
        if (image.Length != 3 * size * size)
            throw new ArgumentException($"ImageAugmenter.Apply: {image.Length} values, expected [3, {size}, {size}]", nameof(image));
        if (Options.Cutout) Cutout(image, size, rng, Options.CutoutFraction, Options.CutoutRandomFill);
        if (Options.RandAugment)
            for (int k = 0; k < Options.RandAugmentOps; k++)
            {
                int op = rng.NextInt(AugmentationOptions.RandAugmentOpNames.Length);
                double m = Options.RandAugmentMagnitude / 10.0 * rng.NextDouble();
                ApplyOp(op, m, image, size, rng);
            }
    }

    /// <summary>One box of side round(fraction · S), centre uniform over the image (clipped at the
    /// borders, as the reference), filled with a random colour or grey 0.5.</summary>
    internal static void Cutout(Span<float> image, int size, Rng rng, double fraction, bool randomFill)
    {
        int side = Math.Max(1, (int)(fraction * size + 0.5));
        int cy = rng.NextInt(size + 1), cx = rng.NextInt(size + 1);
        int y0 = Math.Clamp(cy - side / 2, 0, size), y1 = Math.Clamp(cy + side / 2, 0, size);
        int x0 = Math.Clamp(cx - side / 2, 0, size), x1 = Math.Clamp(cx + side / 2, 0, size);
        int plane = size * size;
        for (int ch = 0; ch < 3; ch++)
        {
            float fill = randomFill ? rng.NextInt(256) / 255f : 0.5f;
            for (int y = y0; y < y1; y++) image.Slice(ch * plane + y * size + x0, x1 - x0).Fill(fill);
        }
    }

    /// <summary>Op <paramref name="op"/> of <see cref="AugmentationOptions.RandAugmentOpNames"/> at magnitude m in [0, 1].</summary>
    internal static void ApplyOp(int op, double m, Span<float> image, int size, Rng rng)
    {
        double sign = rng.NextInt(2) == 0 ? -1 : 1;
        switch (op)
        {
            case 0: break;
            case 1: Scale(image, (float)(1 + 0.9 * m * sign), 0f); break;               // blend with black
            case 2: Scale(image, (float)(1 + 0.9 * m * sign), Mean(image)); break;      // blend with the mean grey
            case 3: FlipHorizontal(image, size); break;
            case 4: Warp(image, size, 0, 0.45 * m * sign * size, 0); break;             // up to 45% of the side
            case 5: Warp(image, size, 0, 0, 0.45 * m * sign * size); break;
            case 6: Warp(image, size, 30 * m * sign * Math.PI / 180, 0, 0); break;      // up to 30°
            case 7: Posterize(image, 8 - (int)Math.Round(4 * m)); break;                // 8 … 4 bits
            case 8: Solarize(image, (float)(1 - m)); break;                             // invert above 1 − m
            case 9: AutoContrast(image, size); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "ImageAugmenter: unknown op");
        }
    }

    private static float Mean(ReadOnlySpan<float> image)
    {
        // Luminance-like mean of all channels, as the reference's contrast uses the grey mean.
        double s = 0;
        foreach (float v in image) s += v;
        return (float)(s / image.Length);
    }

    /// <summary>x ← clamp(centre + f · (x − centre)).</summary>
    private static void Scale(Span<float> image, float f, float centre)
    {
        for (int i = 0; i < image.Length; i++) image[i] = Math.Clamp(centre + f * (image[i] - centre), 0f, 1f);
    }

    private static void FlipHorizontal(Span<float> image, int size)
    {
        for (int row = 0; row < 3 * size; row++) image.Slice(row * size, size).Reverse();
    }

    /// <summary>Rotation by <paramref name="angle"/> about the centre, then a shift (tx, ty) in
    /// pixels; bilinear sampling, outside filled with grey 0.5.</summary>
    private static void Warp(Span<float> image, int size, double angle, double tx, double ty)
    {
        int plane = size * size;
        var src = ArrayPool<float>.Shared.Rent(image.Length);
        try
        {
            image.CopyTo(src);
            double c = Math.Cos(angle), s = Math.Sin(angle), mid = (size - 1) / 2.0;
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    // Inverse map: output (x, y) reads source (sx, sy).
                    double dx = x - tx - mid, dy = y - ty - mid;
                    double sx = c * dx + s * dy + mid, sy = -s * dx + c * dy + mid;
                    int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
                    float fx = (float)(sx - x0), fy = (float)(sy - y0);
                    for (int ch = 0; ch < 3; ch++)
                    {
                        int b = ch * plane;
                        float v00 = At(src, b, size, x0, y0), v10 = At(src, b, size, x0 + 1, y0);
                        float v01 = At(src, b, size, x0, y0 + 1), v11 = At(src, b, size, x0 + 1, y0 + 1);
                        float top = v00 + fx * (v10 - v00), bottom = v01 + fx * (v11 - v01);
                        image[b + y * size + x] = Math.Clamp(top + fy * (bottom - top), 0f, 1f);
                    }
                }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(src);
        }
    }

    private static float At(float[] src, int channelBase, int size, int x, int y) =>
        (uint)x < (uint)size && (uint)y < (uint)size ? src[channelBase + y * size + x] : 0.5f;

    private static void Posterize(Span<float> image, int bits)
    {
        // Keep the top `bits` bits of the 8-bit value, as PIL's posterize.
        int mask = 0xFF & ~((1 << (8 - bits)) - 1);
        for (int i = 0; i < image.Length; i++)
        {
            int b = (int)MathF.Round(Math.Clamp(image[i], 0f, 1f) * 255f);
            image[i] = (b & mask) / 255f;
        }
    }

    private static void Solarize(Span<float> image, float threshold)
    {
        for (int i = 0; i < image.Length; i++)
            if (image[i] >= threshold) image[i] = 1f - image[i];
    }

    /// <summary>Per channel, stretches [min, max] to [0, 1] (a flat channel is left alone).</summary>
    private static void AutoContrast(Span<float> image, int size)
    {
        int plane = size * size;
        for (int ch = 0; ch < 3; ch++)
        {
            var p = image.Slice(ch * plane, plane);
            float lo = float.MaxValue, hi = float.MinValue;
            foreach (float v in p)
            {
                lo = MathF.Min(lo, v);
                hi = MathF.Max(hi, v);
            }
            if (hi - lo < 1e-6f) continue;
            float inv = 1f / (hi - lo);
            for (int i = 0; i < p.Length; i++) p[i] = Math.Clamp((p[i] - lo) * inv, 0f, 1f);
        }
    }
}
