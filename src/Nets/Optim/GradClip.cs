using Kernels.Ops.Elementwise;
using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Optim;

public static class GradClip
{
    /// <summary>Scales all gradients in place so that their joint L2 norm is at most
    /// <paramref name="maxNorm"/> (torch.nn.utils.clip_grad_norm_: factor maxNorm / (norm + 1e-6),
    /// applied only when below 1). Returns the norm before clipping. Reads the norm back to the
    /// host once per parameter.</summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        if (maxNorm <= 0) throw new ArgumentException($"ClipGradNorm: maxNorm must be positive, got {maxNorm}");
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToList();
        double sumSq = 0;
        using (Autograd.NoGrad())
            foreach (var g in grads)
            {
                using var scope = TensorScope.Begin();
                sumSq += F.Sum(F.Square(g)).Item();
            }
        double norm = Math.Sqrt(sumSq);
        double factor = maxNorm / (norm + 1e-6);
        if (factor < 1)
            foreach (var g in grads)
                g.Device.Kernels.Get<IElementwise>().Axpby(factor, g.Buffer, 0, g.Numel, g.Buffer);
        return norm;
    }
}
