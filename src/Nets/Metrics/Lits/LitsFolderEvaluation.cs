using Kernels.Nets.Data.Lits;
using Kernels.Nets.Data.Nifti;

namespace Kernels.Nets.Metrics.Lits;

/// <summary>One prediction / reference pair of files.</summary>
public sealed record LitsFilePair(string Id, string PredictionPath, string ReferencePath);

/// <summary>The LiTS evaluation of a folder of predictions against a folder of references, both in
/// the LiTS naming (segmentation-N.nii or segmentation-N.nii.gz; other files are ignored). Every
/// reference needs its prediction and every prediction its reference; the two files of a pair must
/// have the same shape and the same voxel spacing (to 1e-4 relative: the evaluation never
/// resamples). Each problem is an error that names the files. Voxels are compared as stored, like
/// the scorer: a pair whose voxel-to-world affines differ (another orientation or origin) is
/// scored all the same, with a warning.</summary>
public static class LitsFolderEvaluation
{
    /// <summary>Pairs the files by case number, in numeric order.</summary>
    public static IReadOnlyList<LitsFilePair> Pair(string predictionDir, string referenceDir)
    {
        if (!Directory.Exists(predictionDir)) throw new DirectoryNotFoundException($"prediction folder {predictionDir} does not exist");
        if (!Directory.Exists(referenceDir)) throw new DirectoryNotFoundException($"reference folder {referenceDir} does not exist");
        var refs = LitsLayout.Files(referenceDir, "segmentation");
        var preds = LitsLayout.Files(predictionDir, "segmentation");
        if (refs.Count == 0)
            throw new InvalidDataException($"reference folder {referenceDir} holds no segmentation-N.nii or segmentation-N.nii.gz files");
        var missing = refs.Keys.Where(id => !preds.ContainsKey(id)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"prediction folder {predictionDir} has no segmentation-{missing[0]}.nii[.gz] for the reference " +
                                           $"{Path.GetFileName(refs[missing[0]])}" + (missing.Count > 1 ? $" (nor for {missing.Count - 1} more: {string.Join(", ", missing.Skip(1).Take(8))})" : ""));
        var extra = preds.Keys.Where(id => !refs.ContainsKey(id)).ToList();
        if (extra.Count > 0)
            throw new InvalidDataException($"prediction {preds[extra[0]]} has no reference segmentation-{extra[0]}.nii[.gz] in {referenceDir}" +
                                           (extra.Count > 1 ? $" (nor do {extra.Count - 1} more)" : ""));
        return [.. refs.Select(kv => new LitsFilePair(kv.Key, preds[kv.Key], kv.Value))];
    }

    /// <summary>Reads and scores every pair (one pair in memory at a time). <paramref name="progress"/>
    /// hears each case as it is done, <paramref name="warn"/> each warning.</summary>
    public static LitsReport Evaluate(string predictionDir, string referenceDir, Action<LitsFilePair, LitsCaseResult>? progress = null,
        Action<string>? warn = null)
    {
        var pairs = Pair(predictionDir, referenceDir);
        var eval = new LitsEvaluator();
        foreach (var pair in pairs)
        {
            var reference = NiftiReader.ReadInt32(pair.ReferencePath);
            var prediction = NiftiReader.ReadInt32(pair.PredictionPath);
            if (prediction.Shape != reference.Shape)
                throw new InvalidDataException($"case {pair.Id}: the prediction {pair.PredictionPath} has shape {Fmt(prediction.Shape)}, " +
                                               $"the reference {pair.ReferencePath} {Fmt(reference.Shape)}: the shapes must match");
            var (px, py, pz) = prediction.Spacing;
            var (rx, ry, rz) = reference.Spacing;
            if (!Close(px, rx) || !Close(py, ry) || !Close(pz, rz))
                throw new InvalidDataException($"case {pair.Id}: the prediction {pair.PredictionPath} has voxel spacing {Fmt(prediction.Spacing)} mm, " +
                                               $"the reference {pair.ReferencePath} {Fmt(reference.Spacing)} mm: write the prediction on the reference's grid " +
                                               "(the evaluation does not resample)");
            if (!SameAffine(prediction.Affine, reference.Affine))
                warn?.Invoke($"case {pair.Id}: the voxel-to-world affines of {pair.PredictionPath} and {pair.ReferencePath} differ; " +
                             "voxels are compared as stored (no reorientation)");
            var shape = new VolumeShape(reference.Shape.X, reference.Shape.Y, reference.Shape.Z);
            var result = eval.AddCase<int>(pair.Id, prediction.Data, reference.Data, shape, new VoxelSpacing(rx, ry, rz));
            progress?.Invoke(pair, result);
        }
        return eval.Finish();
    }

    private static bool SameAffine(double[,] a, double[,] b)
    {
        for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            if (Math.Abs(a[i, j] - b[i, j]) > 1e-3 * Math.Max(1, Math.Abs(b[i, j]))) return false;
        return true;
    }

    private static bool Close(double a, double b) => Math.Abs(a - b) <= 1e-4 * Math.Max(Math.Abs(a), Math.Abs(b));

    private static string Fmt((int X, int Y, int Z) s) => $"{s.X}×{s.Y}×{s.Z}";

    private static string Fmt((double X, double Y, double Z) s) => FormattableString.Invariant($"{s.X:0.#####}×{s.Y:0.#####}×{s.Z:0.#####}");
}
