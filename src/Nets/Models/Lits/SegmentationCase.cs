namespace Kernels.Nets.Models.Lits;

/// <summary>One preprocessed case for training or validation: a single-channel image (already
/// windowed and normalised) and its labels (0 background, 1 liver, 2 tumour), both [D, H, W]
/// with D the axial slice index (NIfTI's z; the arrays are NIfTI's x-fastest order), and the
/// voxel spacing in mm (D, H, W).</summary>
public sealed record SegmentationCase(string Id, float[] Image, byte[] Labels, int[] Dims, double[] Spacing)
{
    public long Voxels => (long)Dims[0] * Dims[1] * Dims[2];

    public void Validate()
    {
        if (Dims.Length != 3 || Dims.Any(d => d <= 0))
            throw new ArgumentException($"case {Id}: dims {Shape.Format(Dims)} must be three positive sizes [D, H, W]");
        if (Image.LongLength != Voxels || Labels.LongLength != Voxels)
            throw new ArgumentException($"case {Id}: image ({Image.LongLength}) and labels ({Labels.LongLength}) must both hold {Voxels} voxels for dims {Shape.Format(Dims)}");
        foreach (var l in Labels)
            if (l > 2) throw new ArgumentException($"case {Id}: label {l} is not 0 (background), 1 (liver) or 2 (tumour)");
    }
}

