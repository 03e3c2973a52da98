using Kernels.Ops.AsymmetricLoss;

namespace Kernels.Nets;

public static partial class Functional
{
    /// <summary>The asymmetric loss (ASL, PAPERS.md section 2) of multi-label logits [..., N]
    /// against targets of the same shape (1 positive, 0 negative, −1 un-annotated in the
    /// partial-label form): a scalar, summed (or averaged over the entries with a non-zero weight
    /// when <see cref="AslOptions.Mean"/>). Loss and d loss / d logits come from one fused kernel
    /// pass; the backward scales the saved gradient by the upstream one. With
    /// FocusingWeightConstant (the recipe) the focusing factor is a constant in the backward, so
    /// the gradient is intentionally not the derivative of the value. targets and weights (a
    /// per-entry mask of the logits' shape, optional) are constants.</summary>
    public static Tensor AsymmetricLoss(Tensor logits, Tensor targets, AslOptions options, Tensor? weights = null)
    {
        const string op = "AsymmetricLoss";
        logits.ThrowIfDisposed();
        targets.ThrowIfDisposed();
        weights?.ThrowIfDisposed();
        Check.That(logits.DType.IsFloat(), op, $"logits must be floating point, got {logits.DType.Name()}");
        Check.That(logits.Rank >= 1, op, $"logits have shape {logits.Shape}, expected [..., N]");
        SameDevice(op, logits, ("targets", targets), ("weights", weights));
        Check.SameDType(op, "targets", logits.DType, targets.DType);
        Check.Shape(op, "targets", logits.Shape, targets.Shape);
        if (weights is not null)
        {
            Check.SameDType(op, "weights", logits.DType, weights.DType);
            Check.Shape(op, "weights", logits.Shape, weights.Shape);
        }
        Check.That(options.GammaPos >= 0 && options.GammaNeg >= 0 && options.GammaUnannotated >= 0, op,
            $"focusing exponents must be ≥ 0, got γ+ = {options.GammaPos}, γ− = {options.GammaNeg}, γu = {options.GammaUnannotated}");
        Check.That(options.Clip is >= 0 and < 1, op, $"clip {options.Clip} is outside [0, 1)");
        Check.That(options.Eps is > 0 and < 1, op, $"eps {options.Eps} is outside (0, 1)");

        long cols = logits.Shape[-1];
        long rows = cols == 0 ? 0 : logits.Numel / cols;
        var loss = NewLike(logits, Shape.Scalar);
        bool needs = Autograd.Needs(logits);
        var dLogits = needs ? NewLike(logits, logits.Shape) : null;
        K<IAsymmetricLoss>(logits).ForwardBackward(rows, cols, options, logits.Buffer, targets.Buffer, weights?.Buffer,
            loss.Buffer, dLogits?.Buffer);
        if (needs)
            Autograd.Record(op, loss, [logits], g =>
            {
                var dx = Mul(dLogits!, g);
                dLogits!.Dispose(); // a graph runs backward once; one never run leaves it to its scope
                return [dx];
            });
        return loss;
    }

    /// <summary>The single-label asymmetric loss (the ASL reference's single-label variant) of
    /// logits [B, C] against int32 class indices [B]: with p = softmax(x), each class's
    /// log-probability is weighted by (1 − p_t)^γ+ on the target class and p_c^γ− elsewhere,
    /// targets are label-smoothed (1 − ε)·onehot + ε / C, and the loss is the batch mean of
    /// −Σ_c target_c · w_c · log p_c. Composed from differentiable ops (the focusing factors get
    /// gradients, as in the reference); the one-hot is never built: Σ over c ≠ t is the full sum
    /// minus the target's term, which Gather picks.</summary>
    public static Tensor AsymmetricLossSingleLabel(Tensor logits, Tensor targets, double gammaPos = 0, double gammaNeg = 4,
        double labelSmoothing = 0.1)
    {
        const string op = "AsymmetricLossSingleLabel";
        logits.ThrowIfDisposed();
        targets.ThrowIfDisposed();
        Check.That(logits.DType.IsFloat(), op, $"logits must be floating point, got {logits.DType.Name()}");
        Check.That(logits.Rank == 2, op, $"logits have shape {logits.Shape}, expected [B, C]");
        Check.SameDevice(op, "targets", logits.Device, targets.Device);
        Check.SameDType(op, "targets", DType.I32, targets.DType);
        Check.That(targets.Shape == new Shape(logits.Shape[0]), op,
            $"targets have shape {targets.Shape}, expected [{logits.Shape[0]}] for logits {logits.Shape}");
        Check.That(gammaPos >= 0 && gammaNeg >= 0, op, $"focusing exponents must be ≥ 0, got γ+ = {gammaPos}, γ− = {gammaNeg}");
        Check.That(labelSmoothing is >= 0 and <= 1, op, $"labelSmoothing {labelSmoothing} is outside [0, 1]");
        int batch = logits.Shape[0], classes = logits.Shape[1];
        Check.That(classes > 0 && batch > 0, op, $"logits {logits.Shape} are empty");
        CheckTargets(op, targets, classes, int.MinValue);

        var logp = LogSoftmax(logits, 1);
        var p = Exp(logp);
        // Σ_c p_c^γ− · log p_c over every class, then the target's own terms.
        var negAll = Sum(gammaNeg == 0 ? logp : Mul(PowScalar(p, gammaNeg), logp), [1]); // [B]
        var idx = targets.Reshape(batch, 1);
        var lt = Gather(logp, 1, idx); // [B, 1]
        var pt = Gather(p, 1, idx);
        var posT = gammaPos == 0 ? lt : Mul(PowScalar(RSubScalar(1, pt), gammaPos), lt);
        var negT = gammaNeg == 0 ? lt : Mul(PowScalar(pt, gammaNeg), lt);
        var posTerm = posT.Reshape(batch);
        var negTerm = negT.Reshape(batch);
        // target_c = (1 − ε)·[c = t] + ε / C: the target class gets (1 − ε + ε/C)·posTerm, the others (ε/C)·neg.
        double eps = labelSmoothing, share = eps / classes;
        var perSample = Add(MulScalar(posTerm, 1 - eps + share), MulScalar(Sub(negAll, negTerm), share));
        return MulScalar(Sum(perSample), -1.0 / batch);
    }
}
