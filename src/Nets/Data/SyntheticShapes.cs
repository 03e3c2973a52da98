namespace Kernels.Nets.Data;

/// <summary>A seeded toy image task for smoke-training the engine end to end: single-channel
/// S×S images holding one of four shapes (horizontal bar, vertical bar, cross, square outline) at
/// a random place and size, over Gaussian noise with random brightness. Class k is shape k. It is
/// easy for a small CNN and impossible for a linear model on raw pixels, which is what a training
/// smoke test needs to tell learning from noise.</summary>
public sealed class SyntheticShapes(int size = 16, double noise = 0.35)
{
    public const int Classes = 4;
    public static readonly string[] ClassNames = ["horizontal bar", "vertical bar", "cross", "square"];

    public int Size { get; } = size >= 8 ? size : throw new ArgumentOutOfRangeException(nameof(size), size, "images need at least 8×8 pixels");

    /// <summary>A batch: images [n, 1, S, S] in float32 and labels [n] in int32, on <paramref name="device"/>.</summary>
    public (Tensor Images, Tensor Labels) Batch(int n, Rng rng, Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        int s = Size, plane = s * s;
        var pixels = new float[n * plane];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            int label = rng.NextInt(Classes);
            labels[i] = label;
            var img = pixels.AsSpan(i * plane, plane);
            for (int p = 0; p < plane; p++) img[p] = (float)(noise * rng.NextNormal());
            Draw(img, label, rng);
        }
        return (Tensor.From<float>(pixels, [n, 1, s, s], device), Tensor.From<int>(labels, [n], device));
    }

    private void Draw(Span<float> img, int label, Rng rng)
    {
        int s = Size;
        int len = s / 3 + rng.NextInt(s / 3);            // extent of the shape
        int r0 = rng.NextInt(s - len + 1), c0 = rng.NextInt(s - len + 1);
        float ink = (float)(0.8 + 0.6 * rng.NextDouble());
        int mid = len / 2;
        for (int r = 0; r < len; r++)
            for (int c = 0; c < len; c++)
            {
                bool on = label switch
                {
                    0 => r == mid,
                    1 => c == mid,
                    2 => r == mid || c == mid,
                    _ => r == 0 || c == 0 || r == len - 1 || c == len - 1,
                };
                if (on) img[(r0 + r) * s + c0 + c] += ink;
            }
    }
}
