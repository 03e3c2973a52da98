using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.Lits;

/// <summary>The LiTS cascade: stage 1 finds the liver on a downsampled volume; its largest
/// component, back at full resolution, gives a bounding box (plus a margin); stage 2 segments
/// liver and tumours inside that box at full resolution; then <see cref="LabelOps.PostProcess"/>.
/// Each stage is a function image [D, H, W] → labels [D, H, W] (0/1/2; stage 1's labels ≥ 1
/// count as liver), so the logic is testable without networks.</summary>
public sealed class Cascade(Func<float[], int[], byte[]> liverStage, Func<float[], int[], byte[]> tumourStage,
    int downsample = 2, int[]? margin = null, int tumourDilation = 2)
{
    public int Downsample { get; } = downsample >= 1 ? downsample : throw new ArgumentException($"Cascade: downsample must be at least 1, got {downsample}");
    public int[] Margin { get; } = margin ?? [2, 4, 4];

    /// <summary>Stage 1 alone: the liver mask (largest component) at full resolution.</summary>
    public bool[] Liver(float[] image, int[] dims)
    {
        var small = Downsample == 1 ? dims : DownsampledSize(dims, Downsample);
        var input = Downsample == 1 ? image : Resize(image, dims, small);
        var coarse = liverStage(input, small);
        var labels = Downsample == 1 ? coarse : LabelOps.ResizeNearest(coarse, small, dims);
        var mask = new bool[labels.Length];
        for (int i = 0; i < mask.Length; i++) mask[i] = labels[i] >= 1;
        return LabelOps.LargestComponent(mask, dims);
    }

    /// <summary>The whole cascade: labels [D, H, W].</summary>
    public byte[] Segment(float[] image, int[] dims)
    {
        var liver = Liver(image, dims);
        var result = new byte[liver.Length];
        for (int i = 0; i < liver.Length; i++) result[i] = liver[i] ? (byte)1 : (byte)0;
        var box = LabelOps.BoundingBox(liver, dims, Margin);
        if (box.IsEmpty) return result; // no liver: nothing for stage 2 to look at
        var crop = LabelOps.Crop(image, dims, box);
        var inner = tumourStage(crop, box.Size);
        // Inside the box stage 2 decides (it sees the full resolution); outside only stage 1's liver remains.
        var current = LabelOps.Crop(result, dims, box);
        for (int i = 0; i < inner.Length; i++)
            current[i] = inner[i] >= 1 ? inner[i] : (byte)0;
        LabelOps.Paste(current, box, result, dims);
        return LabelOps.PostProcess(result, dims, tumourDilation);
    }

    public static int[] DownsampledSize(int[] dims, int factor) =>
        dims.Select(d => Math.Max(1, (d + factor - 1) / factor)).ToArray();

    /// <summary>Trilinear resize of a single-channel volume (align_corners false).</summary>
    public static float[] Resize(float[] image, int[] from, int[] to)
    {
        using var _ = Autograd.NoGrad();
        using var scope = TensorScope.Begin();
        var x = Tensor.FromArray(image, new Shape([1, 1, .. from]));
        return F.UpsampleLinear(x, to).ToArray<float>();
    }
}

/// <summary>The two networks of a cascade as one module (tensors liver.* and tumour.*), and the
/// checkpoint metadata that <see cref="LoadedSegmenter"/> reads back (liver.unet.*, tumour.unet.*,
/// each stage's model, patch, context and overlap; the downsampling, margin and dilation).</summary>
public sealed class CascadeNets : Kernels.Nets.Modules.Module
{
    public CascadeNets(UNet liver, UNet tumour)
    {
        Liver = RegisterModule("liver", liver);
        Tumour = RegisterModule("tumour", tumour);
    }

    public UNet Liver { get; }
    public UNet Tumour { get; }

    public static Dictionary<string, string> Metadata(UNetMode liverMode, int[] liverPatch, UNetConfig liver, UNetMode tumourMode,
        int[] tumourPatch, UNetConfig tumour, int downsample, int[] margin, int tumourDilation, int context = 0, double overlap = 0.5)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var m = new Dictionary<string, string> { ["model"] = "cascade" };
        void Stage(string prefix, UNetMode mode, int[] patch, UNetConfig cfg)
        {
            foreach (var (k, v) in cfg.ToMetadata(prefix + "unet.")) m[k] = v;
            m[prefix + "model"] = mode.Name();
            m[prefix + "patch"] = string.Join(',', patch.Select(p => p.ToString(c)));
            m[prefix + "context"] = (mode == UNetMode.Unet25d ? context : 0).ToString(c);
            m[prefix + "overlap"] = overlap.ToString("R", c);
        }
        Stage("liver.", liverMode, liverPatch, liver);
        Stage("tumour.", tumourMode, tumourPatch, tumour);
        m["liver.downsample"] = downsample.ToString(c);
        m["margin"] = string.Join(',', margin.Select(p => p.ToString(c)));
        m["tumour_dilation"] = tumourDilation.ToString(c);
        return m;
    }
}
