using System.Globalization;

namespace Kernels.Nets.Data.Lits;

/// <summary>The voxel spacing a segmentation network is trained at (mm, NIfTI x, y, z): parsed
/// from `--spacing`, defaulted to the per-axis median of the training cases (as nnU-Net does),
/// and stored in the checkpoint metadata under <see cref="MetadataKey"/> so inference can bring
/// an input volume to it. Null means "native": every case keeps its own spacing (and old
/// checkpoints without the key are read that way). See docs/decisions/0018-training-spacing.md.</summary>
public static class TrainingSpacing
{
    public const string MetadataKey = "spacing";
    public const string Native = "native";

    /// <summary>"native" → null; "X,Y,Z" → that spacing in mm. Anything else is an error naming
    /// <paramref name="option"/> and the expected form.</summary>
    public static (double X, double Y, double Z)? Parse(string text, string option = "--spacing")
    {
        var t = text.Trim();
        if (t.Equals(Native, StringComparison.OrdinalIgnoreCase)) return null;
        var parts = t.Split(',', StringSplitOptions.TrimEntries);
        var v = new double[parts.Length];
        bool ok = parts.Length == 3;
        for (int i = 0; ok && i < 3; i++)
            ok = double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out v[i]) && double.IsFinite(v[i]) && v[i] > 0 && v[i] <= 100;
        if (!ok)
            throw new ArgumentException($"{option} '{text}': give the voxel spacing as X,Y,Z in mm, each above 0 and at most 100 (e.g. 0.8,0.8,2.5), or 'native' to keep each case's own spacing");
        return (v[0], v[1], v[2]);
    }

    /// <summary>Per-axis median (the mean of the middle two for an even count, like numpy.median).</summary>
    public static (double X, double Y, double Z) Median(IReadOnlyCollection<(double X, double Y, double Z)> spacings)
    {
        if (spacings.Count == 0) throw new ArgumentException("median spacing: no cases");
        static double Med(IEnumerable<double> values)
        {
            var s = values.Order().ToArray();
            int m = s.Length / 2;
            return s.Length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2;
        }
        return (Med(spacings.Select(s => s.X)), Med(spacings.Select(s => s.Y)), Med(spacings.Select(s => s.Z)));
    }

    /// <summary>The grid a case of <paramref name="shape"/> at <paramref name="spacing"/> gets at the
    /// target (<see cref="Resampling.ShapeFor"/>); its own shape when the target is null (native).</summary>
    public static (int X, int Y, int Z) PreparedShape((int X, int Y, int Z) shape, (double X, double Y, double Z) spacing, (double X, double Y, double Z)? target) =>
        target is { } t ? Resampling.ShapeFor(shape, spacing, t) : shape;

    /// <summary>"0.8,0.8,2.5" (round-trip exact, for metadata) or "native". A value that is a
    /// float32 (NIfTI's pixdim) is written as the shortest float text: 1.2, not 1.2000000476837158.</summary>
    public static string ToText((double X, double Y, double Z)? spacing) =>
        spacing is { } s ? string.Join(',', new[] { s.X, s.Y, s.Z }.Select(Text)) : Native;

    private static string Text(double v) => (double)(float)v == v
        ? ((float)v).ToString("R", CultureInfo.InvariantCulture)
        : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>"0.80,0.80,2.50" for logs.</summary>
    public static string Format((double X, double Y, double Z) s) =>
        string.Create(CultureInfo.InvariantCulture, $"{s.X:0.00},{s.Y:0.00},{s.Z:0.00}");

    public static string Format((int X, int Y, int Z) shape) => $"{shape.X}×{shape.Y}×{shape.Z}";

    public static Dictionary<string, string> ToMetadata((double X, double Y, double Z)? spacing) => new() { [MetadataKey] = ToText(spacing) };

    /// <summary>The training spacing a checkpoint records; null (native) when the key is absent
    /// (checkpoints written before it existed) or "native".</summary>
    public static (double X, double Y, double Z)? FromMetadata(IReadOnlyDictionary<string, string> metadata, string source)
    {
        if (!metadata.TryGetValue(MetadataKey, out var text)) return null;
        try
        {
            return Parse(text, $"metadata 'extra.{MetadataKey}'");
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}");
        }
    }
}

/// <summary>How much memory prepared training data takes, estimated from shapes before any voxel
/// is read, so an oversized request fails in a second instead of swapping for an hour.</summary>
public static class TrainingMemory
{
    /// <summary>Kept per prepared voxel: the float32 image and the uint8 labels.</summary>
    public const long BytesPerPreparedVoxel = 5;

    /// <summary>Whole-volume validation of the largest case: padded input, class accumulator,
    /// weights and probabilities (float32, 3 classes) plus the labels — about 32 bytes a voxel.</summary>
    public const long BytesPerInferenceVoxel = 32;

    /// <summary>Share of <see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/> used when no limit is given.</summary>
    public const double DefaultFraction = 0.6;

    public static long DefaultLimit() => (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * DefaultFraction);

    /// <summary>Held per native voxel while a case is read and resampled: the float32 image (a
    /// .nii.gz grows its array by doubling, so up to 1.5 times that while reading) and the labels.</summary>
    public const long BytesPerNativeVoxelLoading = 6;

    /// <summary>All prepared cases kept, plus the transient peak of loading the largest one
    /// (its native image and labels next to the prepared copies), plus validating the largest
    /// validation case whole.</summary>
    public static long Estimate(IReadOnlyList<long> nativeVoxels, IReadOnlyList<long> preparedVoxels, IEnumerable<long> validationPreparedVoxels)
    {
        long kept = preparedVoxels.Sum() * BytesPerPreparedVoxel;
        long loading = nativeVoxels.Count == 0 ? 0
            : nativeVoxels.Zip(preparedVoxels, (n, p) => n * BytesPerNativeVoxelLoading + p * BytesPerPreparedVoxel).Max();
        long validation = validationPreparedVoxels.DefaultIfEmpty(0).Max() * BytesPerInferenceVoxel;
        return kept + loading + validation;
    }

    /// <summary>"12.34 GiB", or MiB below one GiB.</summary>
    public static string Gib(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.00} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.00} MiB");
}
