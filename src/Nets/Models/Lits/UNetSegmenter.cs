namespace Kernels.Nets.Models.Lits;

/// <summary>How a U-Net sees a volume: whole 3-D patches, single axial slices, or 2k+1 adjacent
/// slices stacked as channels (2.5D).</summary>
public enum UNetMode { Unet3d, Unet2d, Unet25d }

public static class UNetModes
{
    public static string Name(this UNetMode m) => m switch
    {
        UNetMode.Unet3d => "unet3d",
        UNetMode.Unet2d => "unet2d",
        _ => "unet25d",
    };

    public static UNetMode Parse(string s, string source) => s switch
    {
        "unet3d" => UNetMode.Unet3d,
        "unet2d" => UNetMode.Unet2d,
        "unet25d" => UNetMode.Unet25d,
        _ => throw new InvalidDataException($"{source}: model '{s}' is not a U-Net (expected unet3d, unet2d, unet25d or cascade)"),
    };

    /// <summary>Input channels of the network for a mode and a 2.5D context k.</summary>
    public static int InChannels(this UNetMode m, int context) => m == UNetMode.Unet25d ? 2 * context + 1 : 1;
}

/// <summary>Whole-volume inference with one U-Net: sliding windows over the volume (3-D) or over
/// each axial slice (2-D, 2.5D), Gaussian-weighted softmax, argmax. Images are preprocessed
/// single-channel volumes [D, H, W] (D the slice axis).</summary>
public sealed class UNetSegmenter
{
    private readonly SlidingWindow _window;

    public UNetSegmenter(UNet net, UNetMode mode, int[] patch, int context = 0, double overlap = 0.5, int batch = 2)
    {
        Net = net;
        Mode = mode;
        Context = context;
        int dims = mode == UNetMode.Unet3d ? 3 : 2;
        if (patch.Length != dims)
            throw new ArgumentException($"UNetSegmenter: {mode.Name()} needs a {dims}-axis patch, got {Shape.Format(patch)}");
        if (net.Config.Dims != dims || net.Config.InChannels != mode.InChannels(context))
            throw new ArgumentException($"UNetSegmenter: {mode.Name()} (context {context}) needs a {dims}-D net with {mode.InChannels(context)} input channels, the net has {net.Config.Dims}-D with {net.Config.InChannels}");
        foreach (var p in patch)
            if (p % net.Config.SizeMultiple != 0)
                throw new ArgumentException($"UNetSegmenter: patch {Shape.Format(patch)} must be a multiple of {net.Config.SizeMultiple} (2^depth) on every axis");
        Patch = patch;
        _window = new SlidingWindow(patch, overlap, batch);
    }

    public UNet Net { get; }
    public UNetMode Mode { get; }
    public int Context { get; }
    public int[] Patch { get; }
    public int Classes => Net.Config.Classes;

    /// <summary>Class probabilities [classes, D, H, W].</summary>
    public float[] Probabilities(float[] image, int[] dims, Device device)
    {
        Net.Eval();
        if (Mode == UNetMode.Unet3d)
            return _window.Probabilities(Net.Forward, image, 1, dims, Classes, device);
        int d = dims[0], h = dims[1], w = dims[2], k = Context, ch = 2 * k + 1;
        long plane = (long)h * w, voxels = d * plane;
        var probs = new float[Classes * voxels];
        var slices = new float[ch * plane];
        for (int z = 0; z < d; z++)
        {
            // Slices beyond the volume repeat the edge slice.
            for (int c = 0; c < ch; c++)
                Array.Copy(image, Math.Clamp(z + c - k, 0, d - 1) * plane, slices, c * plane, plane);
            var p = _window.Probabilities(Net.Forward, slices, ch, [h, w], Classes, device);
            for (int c = 0; c < Classes; c++) Array.Copy(p, c * plane, probs, c * voxels + z * plane, plane);
        }
        return probs;
    }

    public byte[] Segment(float[] image, int[] dims, Device device) =>
        SlidingWindow.ArgMax(Probabilities(image, dims, device), Classes);

    /// <summary>2k+1 adjacent slices around slice <paramref name="z"/> of a [D, H, W] crop as channels.</summary>
    public static float[] Stack25d(float[] volume, int[] dims, int z, int context)
    {
        int d = dims[0];
        long plane = (long)dims[1] * dims[2];
        var result = new float[(2 * context + 1) * plane];
        for (int c = 0; c <= 2 * context; c++)
            Array.Copy(volume, Math.Clamp(z + c - context, 0, d - 1) * plane, result, c * plane, plane);
        return result;
    }
}
