using Kernels.Nets.Data.Nifti;

namespace Kernels.Nets.Data.Lits;

/// <summary>One case ready for training or evaluation: the normalised image and the labels
/// (x fastest, i.e. [Z, Y, X] row-major), on the grid given by shape, spacing (mm) and affine.</summary>
public sealed record LitsVolume(string Id, float[] Image, byte[] Labels, (int X, int Y, int Z) Shape, (double X, double Y, double Z) Spacing, double[,] Affine)
{
    public TrainingVolume ToTrainingVolume() => new(Image, Labels, Shape, Id);
}

/// <summary>How volumes are prepared: optional resampling to a spacing (trilinear image, nearest
/// labels), then the HU window mapped to [0, 1], or a z-score of the windowed HU over the body.</summary>
public sealed record LitsPrepareOptions
{
    public (double X, double Y, double Z)? TargetSpacing { get; init; }
    public double WindowLow { get; init; } = Intensity.WindowLow;
    public double WindowHigh { get; init; } = Intensity.WindowHigh;
    public bool ZScore { get; init; }
}

/// <summary>Loads LiTS-layout folders or makes phantom cases in memory, prepared for a network.</summary>
public static class LitsDataset
{
    /// <summary>Every case of a LiTS folder (volume-N with segmentation-N), prepared; read lazily, one case at a time.</summary>
    public static IEnumerable<LitsVolume> Load(string dir, LitsPrepareOptions? options = null)
    {
        var cases = LitsLayout.Enumerate(dir);
        foreach (var c in cases)
        {
            var vol = NiftiReader.Read(c.VolumePath);
            var seg = NiftiReader.ReadLabels(c.SegmentationPath!);
            foreach (var l in seg.Data)
                if (l > 2) throw new InvalidDataException($"{c.SegmentationPath}: label {l} is not 0 (background), 1 (liver) or 2 (lesion)");
            yield return Prepare(c.Id, vol, seg, options ?? new LitsPrepareOptions());
        }
    }

    /// <summary>Phantom cases first..first+count-1 of a seed, generated in memory and prepared.</summary>
    public static IEnumerable<LitsVolume> Phantoms(int count, ulong seed, PhantomOptions? phantom = null, LitsPrepareOptions? options = null, int first = 0)
    {
        phantom ??= new PhantomOptions();
        for (int i = first; i < first + count; i++)
        {
            var pc = PhantomGenerator.Generate(phantom, seed, i);
            yield return Prepare(i.ToString(System.Globalization.CultureInfo.InvariantCulture), pc.VolumeImage(), pc.SegmentationImage(), options ?? new LitsPrepareOptions());
        }
    }

    /// <summary>Resamples (when asked) and normalises one case; the inputs are left unchanged.</summary>
    public static LitsVolume Prepare(string id, NiftiImage<float> volume, NiftiImage<byte> labels, LitsPrepareOptions options)
    {
        if (volume.Shape != labels.Shape)
            throw new InvalidDataException($"case {id}: segmentation shape {labels.Shape} does not match the volume's {volume.Shape}");
        if (options.TargetSpacing is { } t)
        {
            volume = Resampling.ToSpacing(volume, t);
            labels = Resampling.LabelsToShape(labels, volume.Shape);
        }
        var image = (float[])volume.Data.Clone();
        if (options.ZScore)
        {
            // Statistics over the body (above −500 HU), after clipping to the window.
            var body = new byte[image.Length];
            for (int i = 0; i < image.Length; i++) body[i] = image[i] > -500 ? (byte)1 : (byte)0;
            if (Array.IndexOf(body, (byte)1) < 0) Array.Fill(body, (byte)1);
            Intensity.ZScore(image, body, options.WindowLow, options.WindowHigh);
        }
        else Intensity.Window(image, options.WindowLow, options.WindowHigh);
        return new LitsVolume(id, image, (byte[])labels.Data.Clone(), volume.Shape, volume.Spacing, volume.Affine);
    }
}
