using Kernels.Ops.Optim;

namespace Kernels.Nets.Optim;

/// <summary>torch.optim.Adam: m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g², p −= lr/(1−β1^t) ·
/// m / (√v/√(1−β2^t) + ε). Weight decay is L2 (added to the gradient).</summary>
public class Adam : Optimizer
{
    private readonly bool _decoupled;

    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0)
        : this([new ParamGroup(parameters)], lr, beta1, beta2, eps, weightDecay) { }

    public Adam(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0) : this(groups, lr, beta1, beta2, eps, weightDecay, false) { }

    protected Adam(IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weightDecay,
        bool decoupled) : base(groups)
    {
        _decoupled = decoupled;
        string name = GetType().Name;
        foreach (var g in Groups)
        {
            g.Lr = g.LrOverride ?? lr;
            g.Beta1 = g.Beta1Override ?? beta1;
            g.Beta2 = g.Beta2Override ?? beta2;
            g.WeightDecay = g.WeightDecayOverride ?? weightDecay;
            g.Eps = eps;
            if (g.Lr < 0) throw new ArgumentException($"{name}: invalid learning rate {g.Lr}");
            if (g.Beta1 is < 0 or >= 1) throw new ArgumentException($"{name}: invalid beta1 {g.Beta1}");
            if (g.Beta2 is < 0 or >= 1) throw new ArgumentException($"{name}: invalid beta2 {g.Beta2}");
            if (eps < 0) throw new ArgumentException($"{name}: invalid eps {eps}");
            if (g.WeightDecay < 0) throw new ArgumentException($"{name}: invalid weight decay {g.WeightDecay}");
        }
    }

    public override bool UsesBetas => true;

    protected override void Update(ParamGroup g, int index, Tensor param, Tensor grad, long step)
    {
        var m = State(index, "exp_avg", param, out _);
        var v = State(index, "exp_avg_sq", param, out _);
        var s = new AdamStep(g.Lr, g.Beta1, g.Beta2, g.Eps, g.WeightDecay, _decoupled, step);
        Kernel(param).Adam(s, param.Numel, param.Buffer, grad.Buffer, m.Buffer, v.Buffer);
    }
}

/// <summary>torch.optim.AdamW: Adam with decoupled weight decay, p ← p·(1 − lr·wd) before the
/// Adam update. PyTorch's default weight decay is 0.01.</summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 1e-2)
        : this([new ParamGroup(parameters)], lr, beta1, beta2, eps, weightDecay) { }

    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 1e-2) : base(groups, lr, beta1, beta2, eps, weightDecay, true) { }
}
