using Kernels.Ops.Optim;

namespace Kernels.Nets.Optim;

/// <summary>torch.optim.SGD: d = g + wd·p; with momentum b = μ·b + (1−dampening)·d (b = d on the
/// first step), d = Nesterov ? d + μ·b : b; p −= lr·d.</summary>
public sealed class Sgd : Optimizer
{
    public Sgd(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false)
        : this([new ParamGroup(parameters)], lr, momentum, dampening, weightDecay, nesterov) { }

    public Sgd(IEnumerable<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false) : base(groups)
    {
        foreach (var g in Groups)
        {
            g.Lr = g.LrOverride ?? lr;
            g.Momentum = g.MomentumOverride ?? momentum;
            g.WeightDecay = g.WeightDecayOverride ?? weightDecay;
            g.Dampening = dampening;
            g.Nesterov = nesterov;
            if (g.Lr < 0) throw new ArgumentException($"Sgd: invalid learning rate {g.Lr}");
            if (g.Momentum < 0) throw new ArgumentException($"Sgd: invalid momentum {g.Momentum}");
            if (g.WeightDecay < 0) throw new ArgumentException($"Sgd: invalid weight decay {g.WeightDecay}");
            if (nesterov && (g.Momentum <= 0 || dampening != 0))
                throw new ArgumentException("Sgd: Nesterov momentum requires a momentum and zero dampening");
        }
    }

    public override bool UsesBetas => false;

    protected override void Update(ParamGroup g, int index, Tensor param, Tensor grad, long step)
    {
        Tensor? buf = null;
        bool first = false;
        if (g.Momentum != 0) buf = State(index, "momentum_buffer", param, out first);
        var s = new SgdStep(g.Lr, g.Momentum, g.Dampening, g.WeightDecay, g.Nesterov, first);
        Kernel(param).Sgd(s, param.Numel, param.Buffer, grad.Buffer, buf?.Buffer);
    }
}
