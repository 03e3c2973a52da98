using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.Lits;

/// <summary>Sliding-window inference over a whole image or volume (nnU-Net's): windows of the
/// patch size overlapping by <see cref="Overlap"/>, each window's softmax weighted by a Gaussian
/// importance map (σ = patch / 8 per axis, so the borders of a window, where the network sees
/// the least context, count the least), summed, divided by the summed weights, then argmax.
/// An input smaller than the patch is padded (centred, with <see cref="PadValue"/>) and the
/// result cropped back. Works on host arrays: image [C, spatial...], 2 or 3 spatial axes.</summary>
public sealed class SlidingWindow
{
    private readonly float[] _gaussian;

    public SlidingWindow(int[] patch, double overlap = 0.5, int batch = 1, double sigmaScale = 1.0 / 8, float padValue = 0)
    {
        if (patch.Length is not (2 or 3)) throw new ArgumentException($"SlidingWindow: the patch has {patch.Length} axes, expected 2 or 3");
        if (patch.Any(p => p <= 0)) throw new ArgumentException($"SlidingWindow: patch {Shape.Format(patch)} must be positive");
        if (!(overlap >= 0 && overlap < 1)) throw new ArgumentException($"SlidingWindow: overlap {overlap} must be in [0, 1)");
        if (batch <= 0) throw new ArgumentException($"SlidingWindow: batch must be positive, got {batch}");
        Patch = (int[])patch.Clone();
        Overlap = overlap;
        Batch = batch;
        PadValue = padValue;
        _gaussian = GaussianMap(Patch, sigmaScale);
    }

    public int[] Patch { get; }
    public double Overlap { get; }
    public int Batch { get; }
    public float PadValue { get; }

    /// <summary>The importance map (product of per-axis Gaussians centred on the patch, maximum 1,
    /// no zeros: the smallest non-zero value replaces any underflow, as nnU-Net does).</summary>
    public static float[] GaussianMap(int[] patch, double sigmaScale = 1.0 / 8)
    {
        var axes = new double[patch.Length][];
        for (int a = 0; a < patch.Length; a++)
        {
            int p = patch[a];
            double sigma = p * sigmaScale, centre = (p - 1) / 2.0;
            axes[a] = new double[p];
            for (int i = 0; i < p; i++)
                axes[a][i] = sigma > 0 ? Math.Exp(-0.5 * (i - centre) * (i - centre) / (sigma * sigma)) : 1;
        }
        long n = patch.Aggregate(1L, (x, y) => x * y);
        var map = new float[n];
        var (d, h, w) = Spatial3(patch);
        double max = 0;
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double v = (patch.Length == 3 ? axes[0][z] : 1) * axes[^2][y] * axes[^1][x];
                    map[((long)z * h + y) * w + x] = (float)v;
                    max = Math.Max(max, v);
                }
        float minPositive = float.MaxValue;
        for (long i = 0; i < n; i++)
        {
            map[i] = (float)(map[i] / max);
            if (map[i] > 0) minPositive = Math.Min(minPositive, map[i]);
        }
        for (long i = 0; i < n; i++)
            if (map[i] == 0) map[i] = minPositive;
        return map;
    }

    /// <summary>Window starts along one axis: evenly spread from 0 to size − patch with steps of
    /// at most patch·(1 − overlap); one window when the axis fits in the patch.</summary>
    public static int[] Starts(int size, int patch, double overlap)
    {
        if (size <= patch) return [0];
        double target = Math.Max(1, patch * (1 - overlap));
        int steps = (int)Math.Ceiling((size - patch) / target) + 1;
        double actual = (size - patch) / (double)(steps - 1);
        var starts = new int[steps];
        for (int i = 0; i < steps; i++) starts[i] = (int)Math.Round(i * actual);
        return starts;
    }

    /// <summary>Class probabilities [classes, spatial...] of <paramref name="image"/> [channels,
    /// spatial...] (sizes <paramref name="size"/>). <paramref name="model"/> maps a batch
    /// [B, channels, patch...] to logits [B, classes, patch...] on <paramref name="device"/>.</summary>
    public float[] Probabilities(Func<Tensor, Tensor> model, float[] image, int channels, int[] size, int classes, Device device)
    {
        if (size.Length != Patch.Length)
            throw new ArgumentException($"SlidingWindow: the image has {size.Length} spatial axes {Shape.Format(size)}, the patch {Shape.Format(Patch)} has {Patch.Length}");
        long voxels = size.Aggregate(1L, (a, b) => a * b);
        if (image.LongLength != channels * voxels)
            throw new ArgumentException($"SlidingWindow: the image holds {image.LongLength} values, expected {channels} × {Shape.Format(size)} = {channels * voxels}");
        // Pad every axis to at least the patch, centred.
        var padded = new int[size.Length];
        var before = new int[size.Length];
        for (int a = 0; a < size.Length; a++)
        {
            padded[a] = Math.Max(size[a], Patch[a]);
            before[a] = (padded[a] - size[a]) / 2;
        }
        var (pd, ph, pw) = Spatial3(padded);
        var (kd, kh, kw) = Spatial3(Patch);
        var (od, oh, ow) = before.Length == 3 ? (before[0], before[1], before[2]) : (0, before[0], before[1]);
        var (sd, sh, sw) = Spatial3(size);
        long paddedVoxels = (long)pd * ph * pw, patchVoxels = (long)kd * kh * kw;
        var src = image;
        if (paddedVoxels != voxels)
        {
            src = new float[channels * paddedVoxels];
            Array.Fill(src, PadValue);
            for (int c = 0; c < channels; c++)
                for (int z = 0; z < sd; z++)
                    for (int y = 0; y < sh; y++)
                        Array.Copy(image, ((long)(c * sd + z) * sh + y) * sw,
                            src, ((long)(c * pd + z + od) * ph + y + oh) * pw + ow, sw);
        }

        var acc = new float[classes * paddedVoxels];
        var weight = new float[paddedVoxels];
        var zs = Starts(pd, kd, Overlap);
        var ys = Starts(ph, kh, Overlap);
        var xs = Starts(pw, kw, Overlap);
        var windows = new List<(int Z, int Y, int X)>();
        foreach (var z in zs) foreach (var y in ys) foreach (var x in xs) windows.Add((z, y, x));

        var batchDims = new int[Patch.Length + 2];
        Patch.CopyTo(batchDims, 2);
        batchDims[1] = channels;
        var input = new float[Batch * channels * patchVoxels];
        for (int w0 = 0; w0 < windows.Count; w0 += Batch)
        {
            int b = Math.Min(Batch, windows.Count - w0);
            for (int i = 0; i < b; i++)
            {
                var (z0, y0, x0) = windows[w0 + i];
                for (int c = 0; c < channels; c++)
                    for (int z = 0; z < kd; z++)
                        for (int y = 0; y < kh; y++)
                            Array.Copy(src, ((long)(c * pd + z0 + z) * ph + y0 + y) * pw + x0,
                                input, (((long)i * channels + c) * kd + z) * kh * kw + (long)y * kw, kw);
            }
            batchDims[0] = b;
            float[] probs;
            using (Autograd.NoGrad())
            using (TensorScope.Begin())
            {
                var x = Tensor.From<float>(input.AsSpan(0, (int)(b * channels * patchVoxels)), new Shape(batchDims), device);
                var logits = model(x);
                if (logits.Rank != batchDims.Length || logits.Shape[0] != b || logits.Shape[1] != classes)
                    throw new InvalidOperationException($"SlidingWindow: the model returned {logits.Shape} for input {x.Shape}, expected [{b}, {classes}, {Shape.Format(Patch)}]");
                probs = F.Softmax(logits.DType == DType.F32 ? logits : logits.To(DType.F32), 1).ToArray<float>();
            }
            for (int i = 0; i < b; i++)
            {
                var (z0, y0, x0) = windows[w0 + i];
                for (int z = 0; z < kd; z++)
                    for (int y = 0; y < kh; y++)
                    {
                        long row = ((long)(z0 + z) * ph + y0 + y) * pw + x0, prow = ((long)z * kh + y) * kw;
                        for (int x = 0; x < kw; x++) weight[row + x] += _gaussian[prow + x];
                        for (int c = 0; c < classes; c++)
                        {
                            long dst = c * paddedVoxels + row, p = ((long)i * classes + c) * patchVoxels + prow;
                            for (int x = 0; x < kw; x++) acc[dst + x] += probs[p + x] * _gaussian[prow + x];
                        }
                    }
            }
        }

        var result = new float[classes * voxels];
        for (int c = 0; c < classes; c++)
            for (int z = 0; z < sd; z++)
                for (int y = 0; y < sh; y++)
                {
                    long from = ((long)z + od) * ph * pw + (long)(y + oh) * pw + ow, to = ((long)z * sh + y) * sw;
                    for (int x = 0; x < sw; x++)
                        result[c * voxels + to + x] = acc[c * paddedVoxels + from + x] / weight[from + x];
                }
        return result;
    }

    /// <summary>The argmax labels [spatial...] of <see cref="Probabilities"/>.</summary>
    public byte[] Predict(Func<Tensor, Tensor> model, float[] image, int channels, int[] size, int classes, Device device) =>
        ArgMax(Probabilities(model, image, channels, size, classes, device), classes);

    /// <summary>Per voxel, the class of the largest probability (ties: the lowest class).</summary>
    public static byte[] ArgMax(float[] probs, int classes)
    {
        long voxels = probs.LongLength / classes;
        var labels = new byte[voxels];
        for (long i = 0; i < voxels; i++)
        {
            int best = 0;
            float bv = probs[i];
            for (int c = 1; c < classes; c++)
                if (probs[c * voxels + i] > bv) { bv = probs[c * voxels + i]; best = c; }
            labels[i] = (byte)best;
        }
        return labels;
    }

    internal static (int D, int H, int W) Spatial3(int[] s) => s.Length == 3 ? (s[0], s[1], s[2]) : (1, s[0], s[1]);
}
