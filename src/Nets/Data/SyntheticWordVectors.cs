namespace Kernels.Nets.Data;

/// <summary>Word vectors for the classes of <see cref="SyntheticMultiLabel"/>, for zero-shot
/// training on synthetic data. A class is a (shape, colour, texture) triple, and its vector
/// carries exactly that: the sum of one fixed random direction per shape, per colour and per
/// texture (each N(0, 1/D) per component, so about unit norm), plus Gaussian noise of
/// <c>noise</c>/√D per component, scaled to unit norm. An unseen class whose shape, colour and
/// texture each occur in some seen class is therefore learnable in principle (the head can map the
/// attribute directions to what they look like), as real word vectors relate "zebra" to "horse".
/// The word of a class is its name with '_' for spaces ("red disc" → "red_disc"), which
/// <see cref="WordVectors.Matrix"/> finds from the class name. Seeded: same seed, same vectors.</summary>
public static class SyntheticWordVectors
{
    public const ulong DefaultSeed = 0x5EED_0F_3005UL;

    /// <summary>Vectors [classes, dim] for classes 0 … classes−1.</summary>
    public static WordVectors Create(int classes, int dim = 300, double noise = 0.3, ulong seed = DefaultSeed)
    {
        if (classes < 1 || classes > SyntheticMultiLabel.MaxClasses)
            throw new ArgumentOutOfRangeException(nameof(classes), classes, $"SyntheticWordVectors: classes must be in [1, {SyntheticMultiLabel.MaxClasses}]");
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "SyntheticWordVectors: dim must be positive");
        if (!(noise >= 0)) throw new ArgumentOutOfRangeException(nameof(noise), noise, "SyntheticWordVectors: noise must be ≥ 0");
        var rng = new Rng(seed);
        double std = 1 / Math.Sqrt(dim);
        var shape = Draw(rng, SyntheticMultiLabel.ShapeCount, dim, std);
        var colour = Draw(rng, SyntheticMultiLabel.ColourCount, dim, std);
        var texture = Draw(rng, SyntheticMultiLabel.TextureCount, dim, std);
        var values = new float[classes * dim];
        var eps = new double[dim];
        var words = new string[classes];
        for (int c = 0; c < classes; c++)
        {
            var (s, col, t) = SyntheticMultiLabel.Describe(c);
            rng.FillNormal(eps, 0, noise * std);
            double norm = 0;
            var v = values.AsSpan(c * dim, dim);
            for (int d = 0; d < dim; d++)
            {
                double x = shape[s * dim + d] + colour[col * dim + d] + texture[t * dim + d] + eps[d];
                v[d] = (float)x;
                norm += x * x;
            }
            float inv = (float)(1 / Math.Sqrt(norm));
            for (int d = 0; d < dim; d++) v[d] *= inv;
            words[c] = SyntheticMultiLabel.Name(c).Replace(' ', '_');
        }
        return WordVectors.Create($"synthetic word vectors (seed {seed})", words, values);
    }

    /// <summary>A default unseen set: every fifth class (4, 9, 14, …), at least one, keeping only
    /// classes whose shape, colour and texture each occur among the seen ones.</summary>
    public static IReadOnlyList<string> DefaultUnseen(int classes)
    {
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "SyntheticWordVectors: zero-shot needs at least 2 classes");
        var unseen = new List<int>();
        for (int c = 4; c < classes; c += 5) unseen.Add(c);
        if (unseen.Count == 0) unseen.Add(classes - 1);
        var seen = Enumerable.Range(0, classes).Except(unseen).Select(SyntheticMultiLabel.Describe).ToArray();
        return unseen.Where(c =>
        {
            var (s, col, t) = SyntheticMultiLabel.Describe(c);
            return seen.Any(x => x.Shape == s) && seen.Any(x => x.Colour == col) && seen.Any(x => x.Texture == t);
        }).Select(SyntheticMultiLabel.Name).ToArray();
    }

    private static double[] Draw(Rng rng, int count, int dim, double std)
    {
        var a = new double[count * dim];
        rng.FillNormal(a, 0, std);
        return a;
    }
}
