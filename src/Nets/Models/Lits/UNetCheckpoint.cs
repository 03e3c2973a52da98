using System.Globalization;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Data.Nifti;
using Kernels.Nets.IO;

namespace Kernels.Nets.Models.Lits;

/// <summary>The intensity preprocessing a U-Net was trained with, stored in its checkpoint:
/// clip to the HU window [Low, High] and map it linearly to [0, 1] (<see cref="Intensity.Window"/>).</summary>
public sealed record HuWindow(double Low = Intensity.WindowLow, double High = Intensity.WindowHigh)
{
    public float[] Apply(float[] hu) => Intensity.Windowed(hu, Low, High);

    public Dictionary<string, string> ToMetadata() => new()
    {
        ["window_low"] = Low.ToString("R", CultureInfo.InvariantCulture),
        ["window_high"] = High.ToString("R", CultureInfo.InvariantCulture),
    };

    public static HuWindow FromMetadata(IReadOnlyDictionary<string, string> m, string source)
    {
        double Get(string key) => m.TryGetValue(key, out var v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            ? d : throw new InvalidDataException($"{source}: metadata 'extra.{key}' is missing or not a number");
        var w = new HuWindow(Get("window_low"), Get("window_high"));
        if (!(w.High > w.Low)) throw new InvalidDataException($"{source}: the HU window [{w.Low}, {w.High}] is empty");
        return w;
    }
}

/// <summary>A segmentation model loaded from a `kernels train unet*` checkpoint: one U-Net with
/// its mode, patch and context, or a cascade of two; plus the preprocessing. Owns the networks.</summary>
public sealed class LoadedSegmenter : IDisposable
{
    private readonly List<UNet> _nets = new();

    private LoadedSegmenter(string kind, HuWindow window, (double X, double Y, double Z)? spacing)
    {
        Kind = kind;
        Window = window;
        Spacing = spacing;
    }

    /// <summary>unet3d, unet2d, unet25d or cascade.</summary>
    public string Kind { get; }
    public HuWindow Window { get; }

    /// <summary>The voxel spacing (mm, x, y, z) the model was trained at; null when the
    /// checkpoint says "native" or predates the key (inputs are then segmented as they are).</summary>
    public (double X, double Y, double Z)? Spacing { get; }

    /// <summary>Preprocessed image [D, H, W] → post-processed labels [D, H, W].</summary>
    public Func<float[], int[], byte[]> Segment { get; private set; } = (_, _) => throw new InvalidOperationException("not loaded");

    /// <summary>HU volume [D, H, W] → labels: the window, then <see cref="Segment"/>.</summary>
    public byte[] SegmentHu(float[] hu, int[] dims) => Segment(Window.Apply(hu), dims);

    /// <summary>An HU volume on its own grid → labels on exactly that grid. When the model has a
    /// training spacing that gives the input another grid, the image is resampled to it
    /// (trilinear), segmented there, and the labels are resampled back (nearest) onto the input's
    /// grid; <paramref name="log"/> hears what was done.</summary>
    public byte[] SegmentImage(NiftiImage<float> image, Action<string>? log = null)
    {
        var shape = image.Shape;
        var dst = TrainingSpacing.PreparedShape(shape, image.Spacing, Spacing);
        if (dst == shape) return SegmentHu(image.Data, [shape.Z, shape.Y, shape.X]);
        var resampled = Resampling.Linear(image.Data, shape, dst);
        var s = image.Spacing;
        log?.Invoke($"resampled the input from {TrainingSpacing.Format(shape)} at {TrainingSpacing.Format(s)} mm to {TrainingSpacing.Format(dst)} at " +
                    $"{TrainingSpacing.Format((s.X * shape.X / dst.X, s.Y * shape.Y / dst.Y, s.Z * shape.Z / dst.Z))} mm (the training spacing {TrainingSpacing.Format(Spacing!.Value)} mm); labels resampled back (nearest)");
        var labels = SegmentHu(resampled, [dst.Z, dst.Y, dst.X]);
        return Resampling.Nearest<byte>(labels, dst, shape);
    }

    internal void Own(UNet net) => _nets.Add(net);

    /// <summary>Reads a checkpoint. A file that is not a training checkpoint, holds another model
    /// or tensors of another architecture is refused, naming the file and the tensor.</summary>
    public static LoadedSegmenter Load(string path, Device device)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--checkpoint {path}: no such file");
        using var ck = TrainingCheckpoint.Load(path, device);
        var extra = ck.Extra;
        var first = ck.Model.Tensors.Keys.FirstOrDefault() ?? "(none)";
        if (!extra.TryGetValue("model", out var kind))
            throw new InvalidDataException($"{path}: the checkpoint names no model (metadata extra.model); its first tensor is 'model.{first}'. Use a checkpoint written by `kernels train unet3d|unet2d|unet25d`");
        if (kind is not ("unet3d" or "unet2d" or "unet25d" or "cascade"))
            throw new InvalidDataException($"{path}: the checkpoint holds a '{kind}' model (first tensor 'model.{first}'), not a U-Net; use one written by `kernels train unet3d|unet2d|unet25d`");
        var window = HuWindow.FromMetadata(extra, path);
        var result = new LoadedSegmenter(kind, window, TrainingSpacing.FromMetadata(extra, path));
        try
        {
            if (kind == "cascade")
            {
                var liver = Single(path, ck, extra, "liver.", device, result);
                var tumour = Single(path, ck, extra, "tumour.", device, result);
                int down = Int(extra, "liver.downsample", path);
                var margin = Ints(extra, "margin", path);
                int dil = Int(extra, "tumour_dilation", path);
                var cascade = new Cascade((img, d) => liver.Segment(img, d, device), (img, d) => tumour.Segment(img, d, device), down, margin, dil);
                result.Segment = cascade.Segment;
                return result;
            }
            var seg = Single(path, ck, extra, "", device, result);
            int dilation = Int(extra, "tumour_dilation", path);
            result.Segment = (img, d) => LabelOps.PostProcess(seg.Segment(img, d, device), d, dilation);
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>One U-Net whose metadata keys and tensor names carry <paramref name="prefix"/>.</summary>
    private static UNetSegmenter Single(string path, TrainingCheckpoint ck, IReadOnlyDictionary<string, string> extra, string prefix,
        Device device, LoadedSegmenter owner)
    {
        var mode = UNetModes.Parse(prefix.Length == 0 ? extra["model"] : Str(extra, prefix + "model", path), path);
        var config = UNetConfig.FromMetadata(extra, path, prefix + "unet.");
        var net = new UNet(config, device);
        owner.Own(net);
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in ck.Model.Tensors)
            if (name.StartsWith(prefix, StringComparison.Ordinal)) state[name[prefix.Length..]] = t;
        try
        {
            net.LoadStateDict(state);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: the tensors do not fit the {mode.Name()} its metadata describes ({e.Message}); was the file written by another architecture?");
        }
        var patch = Ints(extra, prefix + "patch", path);
        int context = Int(extra, prefix + "context", path);
        double overlap = double.Parse(Str(extra, prefix + "overlap", path), CultureInfo.InvariantCulture);
        try
        {
            return new UNetSegmenter(net, mode, patch, context, overlap);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}");
        }
    }

    private static string Str(IReadOnlyDictionary<string, string> m, string key, string path) =>
        m.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{path}: metadata 'extra.{key}' is missing");

    private static int Int(IReadOnlyDictionary<string, string> m, string key, string path) =>
        int.TryParse(Str(m, key, path), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
            : throw new InvalidDataException($"{path}: metadata 'extra.{key}' is '{m[key]}', not an integer");

    private static int[] Ints(IReadOnlyDictionary<string, string> m, string key, string path)
    {
        var parts = Str(m, key, path).Split(',');
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out r[i]))
                throw new InvalidDataException($"{path}: metadata 'extra.{key}' is '{m[key]}', not a comma-separated list of integers");
        return r;
    }

    public void Dispose()
    {
        foreach (var n in _nets) n.Dispose();
        _nets.Clear();
    }
}
