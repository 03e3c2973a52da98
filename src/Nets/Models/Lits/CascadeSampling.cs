using Kernels.Nets.Data.Lits;

namespace Kernels.Nets.Models.Lits;

/// <summary>A training case prepared for the cascade's tumour stage: the full-resolution image and
/// labels [D, H, W] and the tight bounding box of its reference liver (label ≥ 1).</summary>
public sealed class CascadeTumourCase
{
    public CascadeTumourCase(SegmentationCase c)
    {
        c.Validate();
        Case = c;
        var organ = new bool[c.Labels.Length];
        for (int i = 0; i < organ.Length; i++) organ[i] = c.Labels[i] >= 1;
        Liver = LabelOps.BoundingBox(organ, c.Dims, [0, 0, 0]);
        if (Liver.IsEmpty)
            throw new ArgumentException($"case {c.Id}: its segmentation has no liver (no label ≥ 1), so the tumour stage has no box to train in");
    }

    public SegmentationCase Case { get; }
    /// <summary>The reference liver's tight box.</summary>
    public Box3 Liver { get; }
}

/// <summary>How the cascade's tumour stage is trained: on crops of the reference liver's box grown
/// by the inference margin plus a random jitter per face (so the network sees boxes as loose and as
/// tight as stage 1's errors make them), then patches from the crop with the usual augmentation.
/// At inference stage 2 sees exactly such a crop (<see cref="Cascade.Segment"/>), padded by the
/// sliding window where it is smaller than the patch, as the sampler pads here.</summary>
public static class CascadeSampling
{
    /// <summary>The liver box grown on each face by margin + a uniform integer in [−jitter, jitter]
    /// (never below 0, so the box always contains the liver), clipped to the volume. Draws 6
    /// values from <paramref name="rng"/>, axes D, H, W, low face first.</summary>
    public static Box3 JitteredBox(Box3 liver, int[] dims, int[] margin, int[] jitter, Rng rng)
    {
        if (liver.IsEmpty) throw new ArgumentException("JitteredBox: the liver box is empty");
        int[] start = [liver.Z0, liver.Y0, liver.X0], size = [liver.D, liver.H, liver.W];
        var lo = new int[3];
        var hi = new int[3];
        for (int a = 0; a < 3; a++)
        {
            int before = Math.Max(0, margin[a] + rng.NextInt(2 * jitter[a] + 1) - jitter[a]);
            int after = Math.Max(0, margin[a] + rng.NextInt(2 * jitter[a] + 1) - jitter[a]);
            lo[a] = Math.Max(0, start[a] - before);
            hi[a] = Math.Min(dims[a], start[a] + size[a] + after);
        }
        return new Box3(lo[0], lo[1], lo[2], hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
    }

    /// <summary>One tumour-stage patch: a jittered box of the case, cropped, and a patch sampled in
    /// it. Returns the patch (its centre in crop coordinates) and the box.</summary>
    public static (LitsPatch Patch, Box3 Box) Sample(CascadeTumourCase c, LitsPatchSampler sampler, int[] margin, int[] jitter, Rng rng)
    {
        var box = JitteredBox(c.Liver, c.Case.Dims, margin, jitter, rng);
        var volume = new TrainingVolume(LabelOps.Crop(c.Case.Image, c.Case.Dims, box), LabelOps.Crop(c.Case.Labels, c.Case.Dims, box),
            (box.W, box.H, box.D), c.Case.Id);
        return (sampler.Sample(volume, rng), box);
    }

    /// <summary>A tumour-stage batch from cases chosen uniformly: images [B, Z, Y, X] and labels, x fastest.</summary>
    public static (float[] Images, byte[] Labels) Batch(IReadOnlyList<CascadeTumourCase> cases, LitsPatchSampler sampler, int batch,
        int[] margin, int[] jitter, Rng rng)
    {
        if (cases.Count == 0) throw new ArgumentException("tumour-stage batch: no cases");
        var (px, py, pz) = sampler.Options.Size;
        long per = (long)px * py * pz;
        var images = new float[batch * per];
        var labels = new byte[batch * per];
        for (int b = 0; b < batch; b++)
        {
            var (p, _) = Sample(cases[rng.NextInt(cases.Count)], sampler, margin, jitter, rng);
            p.Image.CopyTo(images, b * per);
            p.Labels.CopyTo(labels, b * per);
        }
        return (images, labels);
    }

    /// <summary>The liver stage's training volume: the case downsampled as <see cref="Cascade"/>
    /// does at inference (trilinear image, nearest labels), labels reduced to liver (≥ 1) vs rest.</summary>
    public static SegmentationCase Downsampled(SegmentationCase c, int factor)
    {
        var small = factor == 1 ? c.Dims : Cascade.DownsampledSize(c.Dims, factor);
        var image = factor == 1 ? c.Image : Cascade.Resize(c.Image, c.Dims, small);
        var labels = factor == 1 ? (byte[])c.Labels.Clone() : LabelOps.ResizeNearest(c.Labels, c.Dims, small);
        for (int i = 0; i < labels.Length; i++) labels[i] = labels[i] >= 1 ? (byte)1 : (byte)0;
        return new SegmentationCase(c.Id, image, labels, small, c.Spacing.Select(s => s * factor).ToArray());
    }
}
