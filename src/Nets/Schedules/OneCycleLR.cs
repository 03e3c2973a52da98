using Kernels.Nets.Optim;

namespace Kernels.Nets.Schedules;

/// <summary>torch.optim.lr_scheduler.OneCycleLR: warm-up from max_lr/div_factor to max_lr over
/// pct_start of the steps, then anneal to initial_lr/final_div_factor; momentum (SGD) or β1
/// (Adam) moves the opposite way between max_momentum and base_momentum. The phase boundaries
/// and annealing formulas are PyTorch's, so the sequences match step for step.</summary>
public sealed class OneCycleLR : LrSchedule
{
    public enum Anneal { Cos, Linear }

    private readonly record struct Phase(double EndStep, int StartLr, int EndLr, bool MomentumUp);

    private readonly Phase[] _phases;
    private readonly double[] _initialLr, _maxLr, _minLr;

    public OneCycleLR(Optimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3,
        Anneal anneal = Anneal.Cos, bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95,
        double divFactor = 25, double finalDivFactor = 1e4, bool threePhase = false)
        : this(optimizer, optimizer.Groups.Select(_ => maxLr).ToArray(), totalSteps, pctStart, anneal, cycleMomentum,
            baseMomentum, maxMomentum, divFactor, finalDivFactor, threePhase) { }

    public OneCycleLR(Optimizer optimizer, IReadOnlyList<double> maxLrs, int totalSteps, double pctStart = 0.3,
        Anneal anneal = Anneal.Cos, bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95,
        double divFactor = 25, double finalDivFactor = 1e4, bool threePhase = false)
        : base(Prepare(optimizer, maxLrs, divFactor))
    {
        if (totalSteps <= 0) throw new ArgumentException($"OneCycleLR: totalSteps must be positive, got {totalSteps}");
        if (pctStart is < 0 or > 1) throw new ArgumentException($"OneCycleLR: pctStart must be in [0, 1], got {pctStart}");
        TotalSteps = totalSteps;
        AnnealStrategy = anneal;
        CycleMomentum = cycleMomentum;
        BaseMomentum = baseMomentum;
        MaxMomentum = maxMomentum;
        int n = optimizer.Groups.Count;
        _maxLr = maxLrs.ToArray();
        _initialLr = _maxLr.Select(m => m / divFactor).ToArray();
        _minLr = _initialLr.Select(i => i / finalDivFactor).ToArray();
        BaseLrs = _initialLr;
        // Lr endpoints are indices: 0 initial, 1 max, 2 min.
        _phases = threePhase
            ? [new Phase(pctStart * totalSteps - 1, 0, 1, false),
               new Phase(2 * pctStart * totalSteps - 2, 1, 0, true),
               new Phase(totalSteps - 1, 0, 2, true)]
            : [new Phase(pctStart * totalSteps - 1, 0, 1, false),
               new Phase(totalSteps - 1, 1, 2, true)];
        _threePhase = threePhase;
        Start();
    }

    private readonly bool _threePhase;

    private static Optimizer Prepare(Optimizer optimizer, IReadOnlyList<double> maxLrs, double divFactor)
    {
        if (maxLrs.Count != optimizer.Groups.Count)
            throw new ArgumentException($"OneCycleLR: {maxLrs.Count} max learning rates for {optimizer.Groups.Count} groups");
        for (int i = 0; i < maxLrs.Count; i++) optimizer.Groups[i].InitialLr = maxLrs[i] / divFactor;
        return optimizer;
    }

    public int TotalSteps { get; }
    public Anneal AnnealStrategy { get; }
    public bool CycleMomentum { get; }
    public double BaseMomentum { get; }
    public double MaxMomentum { get; }

    protected override void Validate(int step)
    {
        if (step > TotalSteps)
            throw new InvalidOperationException($"OneCycleLR: tried to step {step} times; the schedule has {TotalSteps} steps");
    }

    public override double LrAt(int group, int step)
    {
        var (phase, pct) = Locate(step);
        return Interp(Endpoint(group, phase.StartLr), Endpoint(group, phase.EndLr), pct);
    }

    public override double? MomentumAt(int group, int step)
    {
        if (!CycleMomentum) return null;
        var (phase, pct) = Locate(step);
        // The last phase of the three-phase schedule holds momentum at max.
        if (_threePhase && phase == _phases[^1]) return MaxMomentum;
        return phase.MomentumUp ? Interp(BaseMomentum, MaxMomentum, pct) : Interp(MaxMomentum, BaseMomentum, pct);
    }

    private double Endpoint(int group, int which) => which switch { 0 => _initialLr[group], 1 => _maxLr[group], _ => _minLr[group] };

    private (Phase Phase, double Pct) Locate(int step)
    {
        double start = 0;
        for (int i = 0; i < _phases.Length; i++)
        {
            var p = _phases[i];
            if (step <= p.EndStep || i == _phases.Length - 1)
            {
                // A phase of length 0 (a one-step warm-up: pctStart·total = 1) is already at its end;
                // dividing would give 0/0 = NaN and poison the learning rate and momentum.
                double length = p.EndStep - start;
                return (p, length > 0 ? (step - start) / length : 1);
            }
            start = p.EndStep;
        }
        throw new InvalidOperationException("unreachable");
    }

    private double Interp(double start, double end, double pct) => AnnealStrategy == Anneal.Cos
        ? end + (start - end) / 2 * (Math.Cos(Math.PI * pct) + 1)
        : (end - start) * pct + start;
}
