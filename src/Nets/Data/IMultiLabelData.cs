namespace Kernels.Nets.Data;

/// <summary>Images and multi-hot targets on the host: images [Count, 3, Size, Size] row-major in
/// [0, 1], targets [Count, Classes] of 1 / 0.</summary>
public sealed record MultiLabelBatch(float[] Images, float[] Targets, int Count, int Size, int Classes)
{
    /// <summary>The batch as tensors: images [n, 3, S, S] float32 and targets [n, N] float32.</summary>
    public (Tensor Images, Tensor Targets) ToTensors(Device? device = null) =>
        (Tensor.From<float>(Images, [Count, 3, Size, Size], device), Tensor.From<float>(Targets, [Count, Classes], device));
}

/// <summary>A multi-label image data source for training and evaluation (synthetic or
/// COCO-style). Training batches are drawn with the caller's <see cref="Rng"/> and carry the
/// source's augmentation; the validation set is fixed (same images, same order, no augmentation)
/// for the life of the object, read in slices so a large set need not sit in memory at once.</summary>
public interface IMultiLabelData
{
    /// <summary>A short description for logs ("synthetic, 20 classes", "coco:/data/coco").</summary>
    string Description { get; }

    /// <summary>N, the number of classes (columns of the targets).</summary>
    int Classes { get; }

    /// <summary>Class names, index c = column c of the targets.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>Image side S of every batch (images are squished to S×S).</summary>
    int ImageSize { get; }

    /// <summary>n training images with augmentation applied, drawn from <paramref name="rng"/>.</summary>
    MultiLabelBatch TrainBatch(int n, Rng rng);

    /// <summary>Images in the fixed held-out validation set.</summary>
    int ValidationCount { get; }

    /// <summary>Validation images [start, start + count) of the fixed set, without augmentation.</summary>
    MultiLabelBatch ValidationBatch(int start, int count);
}

public static class MultiLabelDataExtensions
{
    /// <summary>A training batch as tensors on <paramref name="device"/>.</summary>
    public static (Tensor Images, Tensor Targets) TrainBatch(this IMultiLabelData data, int n, Rng rng, Device? device) =>
        data.TrainBatch(n, rng).ToTensors(device);

    /// <summary>The validation targets [ValidationCount, Classes], read in slices of <paramref name="chunk"/>.</summary>
    public static float[] ValidationTargets(this IMultiLabelData data, int chunk = 64)
    {
        ArgumentNullException.ThrowIfNull(data);
        int n = data.ValidationCount, classes = data.Classes;
        var targets = new float[(long)n * classes];
        for (int i = 0; i < n; i += chunk)
        {
            var b = data.ValidationBatch(i, Math.Min(chunk, n - i));
            b.Targets.CopyTo(targets, (long)i * classes);
        }
        return targets;
    }

    /// <summary>Checks a [start, start + count) slice of a validation set of <paramref name="total"/> images.</summary>
    internal static void CheckSlice(string source, int start, int count, int total)
    {
        if (start < 0 || count <= 0 || start > total - count)
            throw new ArgumentOutOfRangeException(nameof(start), $"{source}: validation images [{start}, {start + count}) outside the {total} held-out images");
    }
}
