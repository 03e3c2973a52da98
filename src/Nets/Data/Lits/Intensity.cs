namespace Kernels.Nets.Data.Lits;

/// <summary>CT intensity normalisation: an HU window mapped to [0, 1] (LiTS' common window is
/// [−200, 250]), or a z-score over a mask (e.g. the body or the liver).</summary>
public static class Intensity
{
    public const double WindowLow = -200, WindowHigh = 250;

    /// <summary>Clips to [low, high] and maps linearly to [0, 1], in place.</summary>
    public static void Window(Span<float> hu, double low = WindowLow, double high = WindowHigh)
    {
        if (!(high > low)) throw new ArgumentException($"HU window [{low}, {high}]: high must exceed low");
        float lo = (float)low, scale = (float)(1.0 / (high - low));
        for (int i = 0; i < hu.Length; i++) hu[i] = Math.Clamp((hu[i] - lo) * scale, 0f, 1f);
    }

    /// <summary>The window into a new array (the input is left alone).</summary>
    public static float[] Windowed(ReadOnlySpan<float> hu, double low = WindowLow, double high = WindowHigh)
    {
        var v = hu.ToArray();
        Window(v, low, high);
        return v;
    }

    /// <summary>Subtracts the mean and divides by the standard deviation, both taken over the
    /// voxels where <paramref name="mask"/> is non-zero (all voxels when it is empty), in place.
    /// Clipping to [low, high] first (optional) keeps air and bone from dominating the statistics.</summary>
    public static (double Mean, double Std) ZScore(Span<float> v, ReadOnlySpan<byte> mask = default, double? low = null, double? high = null)
    {
        if (!mask.IsEmpty && mask.Length != v.Length)
            throw new ArgumentException($"z-score mask has {mask.Length} voxels, the volume {v.Length}");
        if (low is { } l && high is { } h) for (int i = 0; i < v.Length; i++) v[i] = Math.Clamp(v[i], (float)l, (float)h);
        double sum = 0, sq = 0;
        long n = 0;
        for (int i = 0; i < v.Length; i++)
        {
            if (!mask.IsEmpty && mask[i] == 0) continue;
            sum += v[i];
            sq += (double)v[i] * v[i];
            n++;
        }
        if (n == 0) throw new ArgumentException("z-score: the mask selects no voxel");
        double mean = sum / n, std = Math.Sqrt(Math.Max(0, sq / n - mean * mean));
        float m = (float)mean, inv = (float)(1 / Math.Max(std, 1e-6));
        for (int i = 0; i < v.Length; i++) v[i] = (v[i] - m) * inv;
        return (mean, std);
    }
}
