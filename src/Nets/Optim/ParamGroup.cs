using Kernels.Nets.Modules;

namespace Kernels.Nets.Optim;

/// <summary>Parameters that share hyperparameters. Values left unset take the optimizer's
/// defaults when the optimizer is built; after that they are plain settable properties (which
/// a learning-rate schedule writes).</summary>
public sealed class ParamGroup
{
    public ParamGroup(IEnumerable<Tensor> parameters, double? lr = null, double? weightDecay = null,
        double? momentum = null, double? beta1 = null, double? beta2 = null)
    {
        Parameters = parameters.ToList();
        LrOverride = lr;
        WeightDecayOverride = weightDecay;
        MomentumOverride = momentum;
        Beta1Override = beta1;
        Beta2Override = beta2;
    }

    public IReadOnlyList<Tensor> Parameters { get; }

    public double Lr { get; set; }
    public double WeightDecay { get; set; }
    /// <summary>SGD momentum factor.</summary>
    public double Momentum { get; set; }
    public double Dampening { get; set; }
    public bool Nesterov { get; set; }
    public double Beta1 { get; set; }
    public double Beta2 { get; set; }
    public double Eps { get; set; }
    /// <summary>The learning rate a schedule started from (PyTorch's group['initial_lr']); NaN until one is attached.</summary>
    public double InitialLr { get; set; } = double.NaN;

    internal double? LrOverride { get; }
    internal double? WeightDecayOverride { get; }
    internal double? MomentumOverride { get; }
    internal double? Beta1Override { get; }
    internal double? Beta2Override { get; }

    /// <summary>Splits a module's trainable parameters into a group with weight decay and one
    /// without: biases and every parameter of rank ≤ 1 (norm weights and biases, scalars) get
    /// none, as is usual for AdamW training.</summary>
    public static ParamGroup[] DecayAndNoDecay(Module module, double weightDecay, double? lr = null)
    {
        var decay = new List<Tensor>();
        var noDecay = new List<Tensor>();
        foreach (var (name, p) in module.NamedParameters())
        {
            if (!p.RequiresGrad) continue;
            bool skip = p.Rank <= 1 || name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal);
            (skip ? noDecay : decay).Add(p);
        }
        return [new ParamGroup(decay, lr, weightDecay), new ParamGroup(noDecay, lr, 0.0)];
    }
}
