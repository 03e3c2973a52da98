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

/// <summary>Draws training patches from cases: a third centred on a random tumour voxel, a third
/// on a random liver voxel, the rest anywhere (nnU-Net's foreground oversampling, with the rare
/// class asked for explicitly), each randomly flipped along every axis. Patches beyond the
/// volume are padded with the image minimum and label 0. For 2-D / 2.5D, the patch is one slice
/// (plus <c>context</c> slices either side as channels).</summary>
public sealed class PatchSampler
{
    private readonly IReadOnlyList<SegmentationCase> _cases;
    private readonly List<int>[] _liver, _tumour;
    private readonly float[] _min;

    public PatchSampler(IReadOnlyList<SegmentationCase> cases, double tumourFraction = 1.0 / 3, double liverFraction = 1.0 / 3, bool flips = true)
    {
        if (cases.Count == 0) throw new ArgumentException("PatchSampler: no training cases");
        _cases = cases;
        TumourFraction = tumourFraction;
        LiverFraction = liverFraction;
        Flips = flips;
        _liver = new List<int>[cases.Count];
        _tumour = new List<int>[cases.Count];
        _min = new float[cases.Count];
        for (int c = 0; c < cases.Count; c++)
        {
            cases[c].Validate();
            _liver[c] = new List<int>();
            _tumour[c] = new List<int>();
            var l = cases[c].Labels;
            for (int i = 0; i < l.Length; i++)
            {
                if (l[i] == 1) _liver[c].Add(i);
                else if (l[i] == 2) _tumour[c].Add(i);
            }
            _min[c] = cases[c].Image.Min();
        }
    }

    public double TumourFraction { get; }
    public double LiverFraction { get; }
    public bool Flips { get; }

    /// <summary>A batch: images [B, channels, patch...] and labels int32 [B, patch...].
    /// <paramref name="patch"/> has 3 axes for 3-D, 2 for slices (then channels = 2·context + 1).</summary>
    public (Tensor Images, Tensor Labels) Batch(int batch, int[] patch, int context, Rng rng, Device device)
    {
        bool slices = patch.Length == 2;
        int pd = slices ? 1 : patch[0], ph = patch[^2], pw = patch[^1], ch = slices ? 2 * context + 1 : 1;
        long pv = (long)pd * ph * pw;
        var img = new float[batch * ch * pv];
        var lab = new int[batch * pv];
        for (int b = 0; b < batch; b++)
        {
            int ci = rng.NextInt(_cases.Count);
            var c = _cases[ci];
            int d = c.Dims[0], h = c.Dims[1], w = c.Dims[2];
            double u = rng.NextDouble();
            var pool = u < TumourFraction && _tumour[ci].Count > 0 ? _tumour[ci]
                : u < TumourFraction + LiverFraction && _liver[ci].Count > 0 ? _liver[ci] : null;
            int cz, cy, cx;
            if (pool is not null)
            {
                int v = pool[rng.NextInt(pool.Count)];
                cz = v / (h * w); cy = v / w % h; cx = v % w;
            }
            else
            {
                cz = rng.NextInt(d); cy = rng.NextInt(h); cx = rng.NextInt(w);
            }
            // Jitter the centre so the foreground voxel is not always in the middle of the patch.
            int z0 = cz - pd / 2 + Jitter(rng, pd), y0 = cy - ph / 2 + Jitter(rng, ph), x0 = cx - pw / 2 + Jitter(rng, pw);
            if (slices) z0 = cz;
            bool fz = Flips && !slices && rng.NextDouble() < 0.5, fy = Flips && rng.NextDouble() < 0.5, fx = Flips && rng.NextDouble() < 0.5;
            float pad = _min[ci];
            for (int k = 0; k < ch; k++)
                for (int z = 0; z < pd; z++)
                    for (int y = 0; y < ph; y++)
                        for (int x = 0; x < pw; x++)
                        {
                            int sz = slices ? Math.Clamp(z0 + k - context, 0, d - 1) : z0 + (fz ? pd - 1 - z : z);
                            int sy = y0 + (fy ? ph - 1 - y : y), sx = x0 + (fx ? pw - 1 - x : x);
                            bool inside = sz >= 0 && sz < d && sy >= 0 && sy < h && sx >= 0 && sx < w;
                            long src = inside ? ((long)sz * h + sy) * w + sx : -1;
                            long dst = ((long)z * ph + y) * pw + x;
                            img[(b * ch + k) * pv + dst] = inside ? c.Image[src] : pad;
                            if (k == (slices ? context : 0))
                            {
                                long lsrc = slices ? (inside ? ((long)z0 * h + sy) * w + sx : -1) : src;
                                lab[b * pv + dst] = lsrc >= 0 ? c.Labels[lsrc] : 0;
                            }
                        }
        }
        int[] imgDims = slices ? [batch, ch, ph, pw] : [batch, 1, pd, ph, pw];
        int[] labDims = slices ? [batch, ph, pw] : [batch, pd, ph, pw];
        return (Tensor.FromArray(img, new Shape(imgDims), device), Tensor.FromArray(lab, new Shape(labDims), device));
    }

    private static int Jitter(Rng rng, int size) => size <= 2 ? 0 : rng.NextInt((size / 2)) - size / 4;
}
