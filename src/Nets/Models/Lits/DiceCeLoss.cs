using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Models.Lits;

/// <summary>nnU-Net's segmentation loss: cross-entropy + (1 − soft Dice), the Dice averaged over
/// the foreground classes (class 0, the background, is left out). Soft Dice of class c is
/// (2·Σ p_c·y_c + smooth) / (Σ p_c + Σ y_c + smooth) with p the softmax; the sums run over the
/// spatial axes of each sample, or with <see cref="BatchDice"/> over the whole batch as one
/// volume (nnU-Net's batch Dice). Built from differentiable ops, so autograd gives its gradient.</summary>
public sealed class DiceCeLoss(bool batchDice = false, double smooth = 1e-5, double diceWeight = 1, double ceWeight = 1)
{
    public bool BatchDice { get; } = batchDice;
    public double Smooth { get; } = smooth;

    /// <summary>logits [N, C, spatial...], targets int32 [N, spatial...] with values in [0, C).
    /// Returns the scalar loss.</summary>
    public Tensor Forward(Tensor logits, Tensor targets)
    {
        var (ce, dice) = Parts(logits, targets);
        return F.Add(F.MulScalar(ce, ceWeight), F.MulScalar(F.RSubScalar(1.0, dice), diceWeight));
    }

    /// <summary>The cross-entropy (mean over voxels) and the mean foreground soft Dice, separately.</summary>
    public (Tensor CrossEntropy, Tensor Dice) Parts(Tensor logits, Tensor targets)
    {
        const string op = "DiceCeLoss";
        Check.That(logits.Rank >= 3, op, $"logits have shape {logits.Shape}, expected [N, C, spatial...]");
        int classes = logits.Shape[1];
        Check.That(classes >= 2, op, $"logits have shape {logits.Shape}: at least 2 classes (background + foreground) are needed");
        var ce = F.CrossEntropy(logits, targets); // checks the targets' shape, dtype and range
        var probs = F.Softmax(logits, 1);
        var fg = F.Slice(probs, 1, 1, classes - 1);
        var onehot = ForegroundOneHot(targets, classes, logits.DType, logits.Device);
        int rank = logits.Rank;
        int[] axes = BatchDice
            ? [0, .. Enumerable.Range(2, rank - 2)]
            : Enumerable.Range(2, rank - 2).ToArray();
        var intersect = F.Sum(F.Mul(fg, onehot), axes);
        var predicted = F.Sum(fg, axes);
        var reference = F.Sum(onehot, axes);
        var numerator = F.AddScalar(F.MulScalar(intersect, 2.0), Smooth);
        var denominator = F.ClampMin(F.AddScalar(F.Add(predicted, reference), Smooth), 1e-8);
        var dice = F.Mean(F.Div(numerator, denominator));
        return (ce, dice);
    }

    /// <summary>One-hot of the foreground classes: [N, C − 1, spatial...] (a constant). Built on the
    /// targets' device — rows of a [C, C − 1] table (row 0, the background, all zero) picked by the
    /// labels, then the class axis moved to 1 — so a training step never reads the labels back.</summary>
    public static Tensor ForegroundOneHot(Tensor targets, int classes, DType dtype, Device device)
    {
        Check.That(targets.DType == DType.I32, "DiceCeLoss", $"targets have dtype {targets.DType.Name()}, expected int32 class indices");
        Check.SameDevice("DiceCeLoss", "targets", device, targets.Device);
        var table = new double[classes * (classes - 1)];
        for (int c = 1; c < classes; c++) table[c * (classes - 1) + c - 1] = 1;
        using var scope = TensorScope.Begin();
        var eye = Tensor.FromHost(table, new Shape(classes, classes - 1), dtype, device);
        var rows = F.Embedding(targets, eye);                  // [N, spatial..., C − 1]
        int rank = rows.Rank;
        int[] axes = [0, rank - 1, .. Enumerable.Range(1, rank - 2)];
        return TensorScope.Keep(F.Permute(rows, axes));
    }
}
