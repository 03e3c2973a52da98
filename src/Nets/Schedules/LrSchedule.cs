using System.Globalization;
using Kernels.Nets.Optim;

namespace Kernels.Nets.Schedules;

/// <summary>A learning-rate (and optionally momentum) schedule over an optimizer's groups, as
/// torch.optim.lr_scheduler: building it sets step 0's values; each <see cref="Step"/> advances
/// one step (call it after optimizer.Step()). Values are closed-form in the step count, so the
/// state to checkpoint is just <see cref="LastStep"/>.</summary>
public abstract class LrSchedule
{
    private readonly double[] _lastLrs;

    protected LrSchedule(Optimizer optimizer)
    {
        Optimizer = optimizer;
        foreach (var g in optimizer.Groups)
            if (double.IsNaN(g.InitialLr)) g.InitialLr = g.Lr;
        BaseLrs = optimizer.Groups.Select(g => g.InitialLr).ToArray();
        _lastLrs = new double[optimizer.Groups.Count];
    }

    public Optimizer Optimizer { get; }

    /// <summary>The groups' starting learning rates (PyTorch's base_lrs).</summary>
    public IReadOnlyList<double> BaseLrs { get; protected set; }

    /// <summary>Steps taken (PyTorch's last_epoch, which is 0 right after construction).</summary>
    public int LastStep { get; private set; }

    public IReadOnlyList<double> LastLrs => _lastLrs;

    /// <summary>The learning rate of group <paramref name="group"/> at <paramref name="step"/>.</summary>
    public abstract double LrAt(int group, int step);

    /// <summary>The momentum (SGD) or β1 (Adam) at a step, or null when the schedule leaves it alone.</summary>
    public virtual double? MomentumAt(int group, int step) => null;

    /// <summary>Derived constructors call this last: it applies step 0.</summary>
    protected void Start() => Apply(0);

    public void Step() => Apply(LastStep + 1);

    private void Apply(int step)
    {
        Validate(step);
        LastStep = step;
        for (int i = 0; i < Optimizer.Groups.Count; i++)
        {
            var g = Optimizer.Groups[i];
            g.Lr = _lastLrs[i] = LrAt(i, step);
            if (MomentumAt(i, step) is { } m)
            {
                if (Optimizer.UsesBetas) g.Beta1 = m;
                else g.Momentum = m;
            }
        }
    }

    /// <summary>Throws when a schedule cannot go to <paramref name="step"/> (e.g. past OneCycle's end).</summary>
    protected virtual void Validate(int step) { }

    public IReadOnlyDictionary<string, string> StateDict() => new Dictionary<string, string>
    {
        ["type"] = GetType().Name,
        ["last_step"] = LastStep.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Restores the step count and re-applies that step's values to the optimizer.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, string> state)
    {
        if (state.TryGetValue("type", out var type) && type != GetType().Name)
            throw new ArgumentException($"{GetType().Name}.LoadStateDict: the state was saved by {type}");
        if (!state.TryGetValue("last_step", out var s) || !int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int step) || step < 0)
            throw new ArgumentException($"{GetType().Name}.LoadStateDict: no valid 'last_step' in the state");
        Apply(step);
    }
}

/// <summary>torch.optim.lr_scheduler.CosineAnnealingLR: η = η_min + (η_0 − η_min)·(1 + cos(π·t/T_max))/2.</summary>
public sealed class CosineAnnealingLR : LrSchedule
{
    public CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin = 0) : base(optimizer)
    {
        if (tMax <= 0) throw new ArgumentException($"CosineAnnealingLR: tMax must be positive, got {tMax}");
        TMax = tMax;
        EtaMin = etaMin;
        Start();
    }

    public int TMax { get; }
    public double EtaMin { get; }

    public override double LrAt(int group, int step) =>
        EtaMin + (BaseLrs[group] - EtaMin) * (1 + Math.Cos(Math.PI * step / TMax)) / 2;
}

/// <summary>torch.optim.lr_scheduler.StepLR: η = η_0·γ^⌊t / stepSize⌋.</summary>
public sealed class StepLR : LrSchedule
{
    public StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1) : base(optimizer)
    {
        if (stepSize <= 0) throw new ArgumentException($"StepLR: stepSize must be positive, got {stepSize}");
        StepSize = stepSize;
        Gamma = gamma;
        Start();
    }

    public int StepSize { get; }
    public double Gamma { get; }

    public override double LrAt(int group, int step) => BaseLrs[group] * Math.Pow(Gamma, step / StepSize);
}

/// <summary>torch.optim.lr_scheduler.MultiStepLR: η = η_0·γ^(number of milestones ≤ t).</summary>
public sealed class MultiStepLR : LrSchedule
{
    private readonly int[] _milestones;

    public MultiStepLR(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1) : base(optimizer)
    {
        _milestones = milestones.Order().ToArray();
        Gamma = gamma;
        Start();
    }

    public IReadOnlyList<int> Milestones => _milestones;
    public double Gamma { get; }

    public override double LrAt(int group, int step) => BaseLrs[group] * Math.Pow(Gamma, _milestones.Count(m => m <= step));
}
