namespace Kernels.Nets.Data;

/// <summary>The `--data` and `--augment` words of `kernels train ml-decoder` turned into an
/// <see cref="IMultiLabelData"/>.</summary>
public static class MultiLabelDataSource
{
    public const string DataHelp =
        "synthetic, or coco:<dir> with <dir>/annotations/instances_train*.json and instances_val*.json (one each) " +
        "and the images of instances_<name>.json in <dir>/<name>/ (COCO's layout: train2017/, val2017/); " +
        "classes = the categories sorted by id";

    public const string AugmentHelp =
        "auto (coco: cutout+randaugment, synthetic: none), none, cutout, randaugment or cutout+randaugment";

    /// <param name="spec">"synthetic" or "coco:&lt;dir&gt;".</param>
    /// <param name="classes">Classes of the synthetic task (COCO takes its categories).</param>
    /// <param name="validationImages">Held-out images of the synthetic task; for COCO the first
    /// this many val images (0: all).</param>
    public static IMultiLabelData Create(string spec, int classes, int imageSize, int validationImages, string augment = "auto")
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(augment);
        bool coco = spec.StartsWith("coco:", StringComparison.Ordinal);
        var aug = augment == "auto" ? (coco ? AugmentationOptions.Recipe : AugmentationOptions.None) : AugmentationOptions.Parse(augment);
        if (spec == "synthetic")
        {
            if (validationImages <= 0) throw new ArgumentException($"validation images {validationImages}: the synthetic task needs at least 1");
            return new SyntheticMultiLabel(classes, imageSize) { ValidationImages = validationImages, Augmentation = aug };
        }
        if (coco)
        {
            var dir = spec["coco:".Length..];
            if (dir.Length == 0) throw new ArgumentException("--data coco:<dir>: the directory is missing");
            if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"--data {spec}: the directory {dir} does not exist");
            return CocoMultiLabel.Load(dir, imageSize, aug, Math.Max(0, validationImages));
        }
        throw new ArgumentException($"--data '{spec}': use synthetic or coco:<dir>");
    }
}
