using System.Buffers;

namespace Kernels.Nets.Data;

/// <summary>Images and multi-hot targets from <see cref="SyntheticMultiLabel"/>: images
/// [n, 3, S, S] row-major in [0, 1], targets [n, N] of 1 / 0.</summary>
public sealed record SyntheticMultiLabelBatch(float[] Images, float[] Targets, int Count, int Size, int Classes);

/// <summary>A seeded synthetic multi-label image task (issue 4, Data (a)). Class c is a fixed
/// (shape, colour, texture) triple enumerated deterministically (<see cref="Describe"/>), so any
/// N up to <see cref="MaxClasses"/> works and class c means the same thing for every N. An image
/// holds 1 to <see cref="MaxObjects"/> small objects (side S/8 to S/4, at least 8 pixels) at random places over a
/// graded background, clutter (blobs and lines in low-saturation colours that no class uses) and
/// Gaussian noise. Class frequencies follow a Zipf-like law (weight 1 / (c + 1)^<see cref="ZipfExponent"/>),
/// and the pairs in <see cref="CoOccurringPairs"/> tend to appear together. Objects never overlap,
/// and a class is labelled only when its object was drawn, so every label has its pixels. One
/// <see cref="Rng"/> drives everything: same seed, same data. As an <see cref="IMultiLabelData"/>,
/// training batches are fresh images from the caller's generator and the validation set is
/// <see cref="ValidationImages"/> images drawn once from <see cref="ValidationSeed"/>.</summary>
public sealed class SyntheticMultiLabel : IMultiLabelData
{
    public const int ShapeCount = 8, ColourCount = 8, TextureCount = 4;
    public const int MaxClasses = ShapeCount * ColourCount * TextureCount;

    public static readonly string[] ShapeNames = ["disc", "square", "triangle", "ring", "cross", "bar", "diamond", "frame"];
    public static readonly string[] ColourNames = ["red", "green", "blue", "yellow", "magenta", "cyan", "orange", "purple"];
    public static readonly string[] TextureNames = ["solid", "striped", "checked", "hatched"];

    // Saturated hues: every one has a channel at most 0.1 and one at least 0.85, so no clutter
    // colour (saturation kept low) and no noise can be mistaken for them.
    private static readonly float[][] s_colours =
    [
        [0.92f, 0.10f, 0.10f], [0.10f, 0.85f, 0.10f], [0.10f, 0.25f, 0.95f], [0.92f, 0.88f, 0.08f],
        [0.88f, 0.08f, 0.88f], [0.08f, 0.88f, 0.90f], [0.97f, 0.52f, 0.05f], [0.55f, 0.08f, 0.95f],
    ];

    /// <summary>Brightness of the "off" texels of a textured object relative to its colour.</summary>
    internal const float OffTexel = 0.4f;

    private readonly double[] _cumulative;
    private readonly int[] _partner;

    /// <param name="classes">N, 1 to <see cref="MaxClasses"/>.</param>
    /// <param name="size">Image side S, at least 16.</param>
    /// <param name="maxObjects">Most objects (labels) per image.</param>
    /// <param name="zipfExponent">Class c is drawn with weight 1 / (c + 1)^exponent (0: balanced).</param>
    /// <param name="coOccurrence">Chance that the partner of a drawn class is added too.</param>
    /// <param name="noise">Standard deviation of the per-pixel Gaussian noise.</param>
    /// <param name="maxDistractors">Most unlabelled distractor objects per image: patterns of the
    /// classes outside [0, N) (so they share shapes and colours with real classes), which a head
    /// can only reject by binding shape to colour at one place.</param>
    public SyntheticMultiLabel(int classes = 20, int size = 64, int maxObjects = 4, double zipfExponent = 0.8, double coOccurrence = 0.6, double noise = 0.04,
        int maxDistractors = 0)
    {
        if (classes < 1 || classes > MaxClasses)
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"SyntheticMultiLabel: classes must be in [1, {MaxClasses}]");
        if (size < 16) throw new ArgumentOutOfRangeException(nameof(size), size, "SyntheticMultiLabel: images need at least 16×16 pixels");
        if (maxObjects < 1 || maxObjects > 8) throw new ArgumentOutOfRangeException(nameof(maxObjects), maxObjects, "SyntheticMultiLabel: maxObjects must be in [1, 8]");
        if (!(zipfExponent >= 0)) throw new ArgumentOutOfRangeException(nameof(zipfExponent), zipfExponent, "SyntheticMultiLabel: zipfExponent must be ≥ 0");
        if (!(coOccurrence >= 0 && coOccurrence <= 1)) throw new ArgumentOutOfRangeException(nameof(coOccurrence), coOccurrence, "SyntheticMultiLabel: coOccurrence must be in [0, 1]");
        if (!(noise >= 0)) throw new ArgumentOutOfRangeException(nameof(noise), noise, "SyntheticMultiLabel: noise must be ≥ 0");
        if (maxDistractors < 0 || maxDistractors > 8) throw new ArgumentOutOfRangeException(nameof(maxDistractors), maxDistractors, "SyntheticMultiLabel: maxDistractors must be in [0, 8]");
        Classes = classes;
        Size = size;
        MaxObjects = maxObjects;
        ZipfExponent = zipfExponent;
        CoOccurrence = coOccurrence;
        Noise = noise;
        // Distractors come from the solid patterns that are not classes (none when N ≥ 64).
        DistractorFirst = classes;
        DistractorCount = Math.Max(0, ShapeCount * ColourCount - classes);
        MaxDistractors = DistractorCount > 0 ? maxDistractors : 0;

        _cumulative = new double[classes];
        double total = 0;
        for (int c = 0; c < classes; c++) _cumulative[c] = total += 1.0 / Math.Pow(c + 1, zipfExponent);
        Weights = new double[classes];
        for (int c = 0; c < classes; c++) Weights[c] = (c == 0 ? _cumulative[0] : _cumulative[c] - _cumulative[c - 1]) / total;

        // Pairs (k, k + N/2) for k < N/4: a frequent class with a rarer one, like person and skis.
        _partner = new int[classes];
        Array.Fill(_partner, -1);
        var pairs = new List<(int, int)>();
        for (int k = 0; k < classes / 4; k++)
        {
            int b = k + classes / 2;
            _partner[k] = b;
            _partner[b] = k;
            pairs.Add((k, b));
        }
        CoOccurringPairs = pairs;
        ClassNames = Enumerable.Range(0, classes).Select(Name).ToArray();
    }

    public int Classes { get; }
    public int Size { get; }
    public int MaxObjects { get; }
    public double ZipfExponent { get; }
    public double CoOccurrence { get; }
    public double Noise { get; }
    public int MaxDistractors { get; }
    private int DistractorFirst { get; }
    private int DistractorCount { get; }

    /// <summary>Chance of class c on each draw of a class (before co-occurrence and de-duplication).</summary>
    public double[] Weights { get; }

    public IReadOnlyList<(int A, int B)> CoOccurringPairs { get; }

    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Size of the fixed held-out set (<see cref="IMultiLabelData.ValidationBatch"/>).</summary>
    public int ValidationImages { get; init; } = 512;

    /// <summary>Seed of the held-out set, independent of the training generator.</summary>
    public ulong ValidationSeed { get; init; } = 0xE7A1_5EEDUL;

    public string Description => $"synthetic, {Classes} classes, {Size}px";

    int IMultiLabelData.ImageSize => Size;

    int IMultiLabelData.ValidationCount => ValidationImages;

    private MultiLabelBatch? _validation;

    /// <summary>Augmentation of training batches (none by default: fresh images every step need none).</summary>
    public AugmentationOptions Augmentation
    {
        get => _augmenter?.Options ?? AugmentationOptions.None;
        init => _augmenter = value is { Any: true } ? new ImageAugmenter(value) : null;
    }

    private readonly ImageAugmenter? _augmenter;

    /// <summary>n fresh images drawn from <paramref name="rng"/>, then augmented (same generator).</summary>
    public MultiLabelBatch TrainBatch(int n, Rng rng)
    {
        var b = Generate(n, rng);
        _augmenter?.ApplyBatch(b.Images, n, Size, rng);
        return new MultiLabelBatch(b.Images, b.Targets, b.Count, b.Size, b.Classes);
    }

    /// <summary>Images [start, start + count) of the held-out set, generated on first use and kept.</summary>
    public MultiLabelBatch ValidationBatch(int start, int count)
    {
        MultiLabelDataExtensions.CheckSlice("SyntheticMultiLabel", start, count, ValidationImages);
        if (_validation is null)
        {
            var all = Generate(ValidationImages, new Rng(ValidationSeed));
            _validation = new MultiLabelBatch(all.Images, all.Targets, all.Count, all.Size, all.Classes);
        }
        int plane = 3 * Size * Size;
        return new MultiLabelBatch(_validation.Images.AsSpan(start * plane, count * plane).ToArray(),
            _validation.Targets.AsSpan(start * Classes, count * Classes).ToArray(), count, Size, Classes);
    }

    /// <summary>Class c's pattern: shape c mod 8; colour (c + ⌊c/8⌋) mod 8, so the first 64 classes
    /// are all the shape × colour pairs (9 and 8 are coprime) in an order that varies both;
    /// texture ⌊c/64⌋ (solid for the first 64).</summary>
    public static (int Shape, int Colour, int Texture) Describe(int cls)
    {
        if ((uint)cls >= MaxClasses) throw new ArgumentOutOfRangeException(nameof(cls), cls, $"SyntheticMultiLabel: class must be in [0, {MaxClasses})");
        int shape = cls % ShapeCount, q = cls / ShapeCount % ColourCount;
        return (shape, (shape + q * (ShapeCount + 1)) % ColourCount, cls / (ShapeCount * ColourCount));
    }

    public static string Name(int cls)
    {
        var (s, c, t) = Describe(cls);
        return t == 0 ? $"{ColourNames[c]} {ShapeNames[s]}" : $"{TextureNames[t]} {ColourNames[c]} {ShapeNames[s]}";
    }

    /// <summary>The RGB of class c's colour at full brightness (objects use 0.8 to 1 of it).</summary>
    public static ReadOnlySpan<float> Colour(int cls) => s_colours[Describe(cls).Colour];

    /// <summary>n images and their targets, drawn from <paramref name="rng"/>.</summary>
    public SyntheticMultiLabelBatch Generate(int n, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentNullException.ThrowIfNull(rng);
        int plane = 3 * Size * Size;
        if ((long)n * plane > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"SyntheticMultiLabel.Generate: {n} images of [3, {Size}, {Size}] do not fit one array; generate in batches");
        var images = new float[(long)n * plane];
        var targets = new float[(long)n * Classes];
        Span<int> chosen = stackalloc int[MaxObjects];
        for (int i = 0; i < n; i++)
        {
            int m = SampleLabels(rng, chosen);
            Render(chosen[..m], rng, images.AsSpan(i * plane, plane), targets.AsSpan(i * Classes, Classes));
        }
        return new SyntheticMultiLabelBatch(images, targets, n, Size, Classes);
    }

    /// <summary>A batch as tensors: images [n, 3, S, S] float32 and targets [n, N] float32.</summary>
    public (Tensor Images, Tensor Targets) Batch(int n, Rng rng, Device? device = null)
    {
        var b = Generate(n, rng);
        return (Tensor.From<float>(b.Images, [n, 3, Size, Size], device), Tensor.From<float>(b.Targets, [n, Classes], device));
    }

    /// <summary>Draws one image holding the given classes (in this order) into
    /// <paramref name="image"/> [3, S, S] and sets <paramref name="target"/> [N] to 1 for each
    /// class whose object found a free place (a class that did not fit stays 0).</summary>
    public void Render(ReadOnlySpan<int> classes, Rng rng, Span<float> image, Span<float> target)
    {
        int s = Size, plane = s * s;
        if (image.Length != 3 * plane) throw new ArgumentException($"SyntheticMultiLabel.Render: image has {image.Length} values, expected [3, {s}, {s}]", nameof(image));
        if (target.Length != Classes) throw new ArgumentException($"SyntheticMultiLabel.Render: target has {target.Length} values, expected {Classes}", nameof(target));
        foreach (int c in classes)
            if ((uint)c >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(classes), c, $"SyntheticMultiLabel.Render: class outside [0, {Classes})");
        target.Clear();
        Background(image, rng);
        int clutter = 2 + rng.NextInt(5);
        for (int k = 0; k < clutter; k++) Clutter(image, rng);

        int distractors = MaxDistractors > 0 ? rng.NextInt(MaxDistractors + 1) : 0;
        int objects = classes.Length + distractors;
        Span<int> boxes = objects <= 16 ? stackalloc int[4 * objects] : new int[4 * objects];
        int placed = 0;
        for (int k = 0; k < objects; k++)
        {
            // Classes first (they must find room); then distractors, which are never labelled.
            bool labelled = k < classes.Length;
            int c = labelled ? classes[k] : DistractorFirst + rng.NextInt(DistractorCount);
            int d = Math.Max(8, s / 8 + rng.NextInt(s / 8 + 1));
            for (int attempt = 0; attempt < 40; attempt++)
            {
                int x0 = rng.NextInt(s - d + 1), y0 = rng.NextInt(s - d + 1);
                if (Overlaps(boxes[..(4 * placed)], x0, y0, d)) continue;
                float brightness = (float)(0.8 + 0.2 * rng.NextDouble());
                DrawObject(image, c, x0, y0, d, brightness);
                boxes[4 * placed] = x0;
                boxes[4 * placed + 1] = y0;
                boxes[4 * placed + 2] = x0 + d;
                boxes[4 * placed + 3] = y0 + d;
                placed++;
                if (labelled) target[c] = 1;
                break;
            }
        }

        if (Noise > 0)
        {
            // One FillNormal call per image: the generator's lock is taken once, not per pixel.
            var noise = ArrayPool<double>.Shared.Rent(image.Length);
            rng.FillNormal(noise.AsSpan(0, image.Length), 0, Noise);
            for (int p = 0; p < image.Length; p++) image[p] += (float)noise[p];
            ArrayPool<double>.Shared.Return(noise);
        }
        for (int p = 0; p < image.Length; p++) image[p] = Math.Clamp(image[p], 0f, 1f);
    }

    /// <summary>Draws class <paramref name="cls"/> in the d×d box at (x0, y0) of a [3, S, S] image.</summary>
    internal void DrawObject(Span<float> image, int cls, int x0, int y0, int d, float brightness)
    {
        var (shape, colour, texture) = Describe(cls);
        var rgb = s_colours[colour];
        int s = Size, plane = s * s;
        for (int y = 0; y < d; y++)
            for (int x = 0; x < d; x++)
            {
                // Pixel centre in [-1, 1]² of the box.
                float u = (2f * x + 1f) / d - 1f, v = (2f * y + 1f) / d - 1f;
                if (!Inside(shape, u, v)) continue;
                float scale = brightness * (TexelOn(texture, x, y) ? 1f : OffTexel);
                int at = (y0 + y) * s + x0 + x;
                for (int ch = 0; ch < 3; ch++) image[ch * plane + at] = rgb[ch] * scale;
            }
    }

    private static bool Inside(int shape, float u, float v)
    {
        float au = MathF.Abs(u), av = MathF.Abs(v), r2 = u * u + v * v;
        return shape switch
        {
            0 => r2 <= 1f,                          // disc
            1 => true,                              // square (the whole box)
            2 => au <= (v + 1f) * 0.5f,             // triangle, apex up
            3 => r2 <= 1f && r2 >= 0.3f,            // ring
            4 => au <= 0.3f || av <= 0.3f,          // cross
            5 => av <= 0.35f,                       // bar (horizontal, full width)
            6 => au + av <= 1f,                     // diamond
            _ => MathF.Max(au, av) >= 0.55f,        // frame (hollow square)
        };
    }

    private static bool TexelOn(int texture, int x, int y) => texture switch
    {
        0 => true,
        1 => (x + y) / 2 % 2 == 0,                  // diagonal stripes
        2 => (x / 2 + y / 2) % 2 == 0,              // checks
        _ => y / 2 % 2 == 0,                        // horizontal hatching
    };

    private static bool Overlaps(ReadOnlySpan<int> boxes, int x0, int y0, int d)
    {
        // One free pixel between objects so their outlines stay apart.
        for (int b = 0; b < boxes.Length; b += 4)
            if (x0 <= boxes[b + 2] && boxes[b] <= x0 + d && y0 <= boxes[b + 3] && boxes[b + 1] <= y0 + d)
                return true;
        return false;
    }

    /// <summary>A low-saturation base colour with a linear gradient in a random direction.</summary>
    private void Background(Span<float> image, Rng rng)
    {
        int s = Size, plane = s * s;
        float grey = (float)(0.15 + 0.4 * rng.NextDouble());
        Span<float> tint = stackalloc float[3];
        for (int ch = 0; ch < 3; ch++) tint[ch] = grey + (float)(0.1 * rng.NextDouble() - 0.05);
        float gx = (float)(0.2 * rng.NextDouble() - 0.1), gy = (float)(0.2 * rng.NextDouble() - 0.1);
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++)
            {
                float g = gx * (2f * x / s - 1f) + gy * (2f * y / s - 1f);
                for (int ch = 0; ch < 3; ch++) image[ch * plane + y * s + x] = tint[ch] + g;
            }
    }

    /// <summary>A blob (filled ellipse) or a line in a low-saturation colour.</summary>
    private void Clutter(Span<float> image, Rng rng)
    {
        int s = Size, plane = s * s;
        float level = (float)(0.1 + 0.8 * rng.NextDouble());
        Span<float> rgb = stackalloc float[3];
        for (int ch = 0; ch < 3; ch++) rgb[ch] = Math.Clamp(level + (float)(0.16 * rng.NextDouble() - 0.08), 0f, 1f);
        if (rng.NextInt(2) == 0)
        {
            float cx = (float)(s * rng.NextDouble()), cy = (float)(s * rng.NextDouble());
            float rx = (float)(s / 16.0 + s / 8.0 * rng.NextDouble()), ry = (float)(s / 16.0 + s / 8.0 * rng.NextDouble());
            int xa = Math.Max(0, (int)(cx - rx)), xb = Math.Min(s - 1, (int)(cx + rx));
            int ya = Math.Max(0, (int)(cy - ry)), yb = Math.Min(s - 1, (int)(cy + ry));
            for (int y = ya; y <= yb; y++)
                for (int x = xa; x <= xb; x++)
                {
                    float du = (x + 0.5f - cx) / rx, dv = (y + 0.5f - cy) / ry;
                    if (du * du + dv * dv > 1f) continue;
                    for (int ch = 0; ch < 3; ch++) image[ch * plane + y * s + x] = rgb[ch];
                }
        }
        else
        {
            double angle = Math.PI * rng.NextDouble(), length = s / 4.0 + s / 4.0 * rng.NextDouble();
            float x = (float)(s * rng.NextDouble()), y = (float)(s * rng.NextDouble());
            float dx = (float)Math.Cos(angle), dy = (float)Math.Sin(angle);
            int thick = 1 + rng.NextInt(2);
            for (int step = 0; step < (int)length; step++, x += dx, y += dy)
                for (int t = 0; t < thick; t++)
                {
                    int px = (int)x + t, py = (int)y;
                    if ((uint)px >= (uint)s || (uint)py >= (uint)s) continue;
                    for (int ch = 0; ch < 3; ch++) image[ch * plane + py * s + px] = rgb[ch];
                }
        }
    }

    /// <summary>Draws the distinct classes of one image: a count in [1, MaxObjects], classes by
    /// weight without repeats, each drawn class pulling in its partner with chance CoOccurrence.</summary>
    private int SampleLabels(Rng rng, Span<int> chosen)
    {
        int want = 1 + rng.NextInt(Math.Min(MaxObjects, Classes)), m = 0;
        while (m < want)
        {
            int c = SampleClass(rng);
            if (chosen[..m].Contains(c)) continue;
            chosen[m++] = c;
            int p = _partner[c];
            if (p >= 0 && m < MaxObjects && !chosen[..m].Contains(p) && rng.NextDouble() < CoOccurrence)
                chosen[m++] = p;
        }
        return m;
    }

    private int SampleClass(Rng rng)
    {
        double u = rng.NextDouble() * _cumulative[^1];
        int i = Array.BinarySearch(_cumulative, u);
        if (i < 0) i = ~i;
        return Math.Min(i, Classes - 1);
    }
}
