using System.Text.RegularExpressions;
using Kernels.Nets.Data.Nifti;

namespace Kernels.Nets.Data.Lits;

/// <summary>One LiTS case: its number and files (the segmentation null when not required and absent).</summary>
public sealed record LitsCase(string Id, string VolumePath, string? SegmentationPath);

/// <summary>The LiTS folder layout: volume-N.nii[.gz] with segmentation-N.nii[.gz], N a number.
/// Every problem (missing folder, no cases, a file without its partner, the same case as .nii
/// and .nii.gz, mismatched shapes or spacing) is an error that names the files.</summary>
public static partial class LitsLayout
{
    public static string VolumeName(int id, string ext = ".nii") => $"volume-{id}{ext}";
    public static string SegmentationName(int id, string ext = ".nii") => $"segmentation-{id}{ext}";

    [GeneratedRegex(@"^(volume|segmentation)-(\d+)\.nii(\.gz)?$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    /// <summary>The files of one kind ("volume" or "segmentation") in a folder, by case id.</summary>
    public static SortedDictionary<string, string> Files(string dir, string kind)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"LiTS folder {dir} does not exist");
        var found = new SortedDictionary<string, string>(Comparer<string>.Create(CompareIds));
        foreach (var path in Directory.EnumerateFiles(dir))
        {
            var m = NamePattern().Match(Path.GetFileName(path));
            if (!m.Success || m.Groups[1].Value != kind) continue;
            var id = m.Groups[2].Value;
            if (found.TryGetValue(id, out var other))
                throw new InvalidDataException($"LiTS folder {dir}: case {id} has two {kind} files, {Path.GetFileName(other)} and {Path.GetFileName(path)}: keep one");
            found[id] = path;
        }
        return found;
    }

    /// <summary>Pairs volume-N with segmentation-N. With <paramref name="requireSegmentations"/>
    /// false, volumes without a segmentation are listed with a null one (inference input); a
    /// segmentation without its volume is always an error. With <paramref name="checkHeaders"/>
    /// the two headers of each pair must agree on shape and spacing.</summary>
    public static IReadOnlyList<LitsCase> Enumerate(string dir, bool requireSegmentations = true, bool checkHeaders = true)
    {
        var volumes = Files(dir, "volume");
        var segs = Files(dir, "segmentation");
        if (volumes.Count == 0)
            throw new InvalidDataException($"LiTS folder {dir} holds no volume-N.nii or volume-N.nii.gz files" +
                                           (segs.Count > 0 ? $" (but {segs.Count} segmentation files)" : ""));
        foreach (var (id, seg) in segs)
            if (!volumes.ContainsKey(id))
                throw new InvalidDataException($"LiTS folder {dir}: {Path.GetFileName(seg)} has no volume-{id}.nii[.gz]");
        var cases = new List<LitsCase>();
        foreach (var (id, vol) in volumes)
        {
            segs.TryGetValue(id, out var seg);
            if (seg is null && requireSegmentations)
                throw new InvalidDataException($"LiTS folder {dir}: {Path.GetFileName(vol)} has no segmentation-{id}.nii[.gz]");
            if (seg is not null && checkHeaders) CheckPair(vol, seg);
            cases.Add(new LitsCase(id, vol, seg));
        }
        return cases;
    }

    /// <summary>The two files must describe the same grid: same shape, same spacing (to 1e-4 relative).</summary>
    public static void CheckPair(string volumePath, string segmentationPath)
    {
        var a = NiftiReader.ReadHeader(volumePath);
        var b = NiftiReader.ReadHeader(segmentationPath);
        if (a.Shape != b.Shape)
            throw new InvalidDataException($"{segmentationPath}: shape {b.Shape} does not match {volumePath}'s {a.Shape}");
        if (!Close(a.Spacing.X, b.Spacing.X) || !Close(a.Spacing.Y, b.Spacing.Y) || !Close(a.Spacing.Z, b.Spacing.Z))
            throw new InvalidDataException($"{segmentationPath}: spacing {b.Spacing} mm does not match {volumePath}'s {a.Spacing} mm");
    }

    private static bool Close(double a, double b) => Math.Abs(a - b) <= 1e-4 * Math.Max(Math.Abs(a), Math.Abs(b));

    private static int CompareIds(string a, string b)
    {
        // Numeric order (2 before 10); equal numbers with different zero padding fall back to text.
        var ta = a.TrimStart('0');
        var tb = b.TrimStart('0');
        int c = ta.Length.CompareTo(tb.Length);
        if (c == 0) c = string.CompareOrdinal(ta, tb);
        return c != 0 ? c : string.CompareOrdinal(a, b);
    }
}
