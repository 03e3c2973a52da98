using System.Diagnostics;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using Kernels.Nets.Training;

namespace Kernels.Nets.Models.Lits;

/// <summary>The optimisation part of a U-Net training run, shared by <see cref="UNetTrainer"/> and
/// <see cref="CascadeTrainer"/> (one loop per cascade stage): AdamW with cosine decay over
/// Epochs × StepsPerEpoch steps, Dice + cross-entropy, progress lines with throughput, ETA and
/// process CPU time. The caller supplies the batches, so each trainer keeps its own sampling.</summary>
internal sealed class UNetStepLoop : IDisposable
{
    private readonly UNet _net;
    private readonly UNetTrainOptions _o;
    private readonly Action<string> _log;
    private readonly string _label;
    private readonly AdamW _opt;
    private readonly CosineAnnealingLR _sched;
    private readonly DiceCeLoss _loss;
    private readonly Stopwatch _sw = Stopwatch.StartNew();
    private readonly TimeSpan _cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    private double _trainSeconds;

    /// <param name="label">Prefix of the progress lines ("" for a single U-Net, "tumour " in a cascade).</param>
    public UNetStepLoop(UNet net, UNetTrainOptions o, Rng rng, Action<string> log, string label = "")
    {
        _net = net;
        _o = o;
        _log = log;
        _label = label;
        _opt = new AdamW(net.Parameters(), lr: o.Lr, weightDecay: o.WeightDecay);
        TotalSteps = o.Epochs * o.StepsPerEpoch;
        _sched = new CosineAnnealingLR(_opt, TotalSteps, o.Lr * 0.02);
        _loss = new DiceCeLoss(o.BatchDice);
        Run = new TrainingRun(net, _opt, _sched, null, rng);
        PatchVoxels = o.Patch.Aggregate(1L, (a, b) => a * b) * o.Batch;
    }

    /// <summary>Model, optimizer, schedule and generator, for checkpoints.</summary>
    public TrainingRun Run { get; }
    public int TotalSteps { get; }
    /// <summary>Voxels per step (patch × batch).</summary>
    public long PatchVoxels { get; }
    public TimeSpan Elapsed => _sw.Elapsed;

    /// <summary>Process CPU time since the loop was built: on a shared machine it tells what a quiet run would take.</summary>
    public double CpuSeconds() => (Process.GetCurrentProcess().TotalProcessorTime - _cpu0).TotalSeconds;

    /// <summary>One epoch of StepsPerEpoch steps on batches from <paramref name="batch"/> (called
    /// inside a tensor scope per step); returns the mean loss and the seconds it took.</summary>
    public (double Loss, double Seconds) Epoch(int epoch, Func<(Tensor Images, Tensor Labels)> batch)
    {
        _net.Train();
        double lossSum = 0;
        var t0 = _sw.Elapsed;
        int every = Math.Max(1, _o.StepsPerEpoch / 5);
        for (int s = 0; s < _o.StepsPerEpoch; s++)
        {
            using var scope = TensorScope.Begin();
            var (x, y) = batch();
            var l = _loss.Forward(_net.Forward(x), y);
            _opt.ZeroGrad();
            l.Backward();
            _opt.Step();
            _sched.Step();
            Run.Step++;
            double v = l.Item();
            if (!double.IsFinite(v))
                throw new InvalidOperationException($"the {_label}loss became {v} at epoch {epoch}, step {s + 1}; lower --lr (now {_o.Lr})");
            lossSum += v;
            if ((s + 1) % every == 0)
            {
                double seconds = _trainSeconds + (_sw.Elapsed - t0).TotalSeconds;
                double done = (epoch - 1) * _o.StepsPerEpoch + s + 1;
                double rate = done * PatchVoxels / seconds;
                var eta = TimeSpan.FromSeconds((TotalSteps - done) * seconds / done);
                _log($"  {_label}epoch {epoch}/{_o.Epochs} step {s + 1}/{_o.StepsPerEpoch} loss {v:0.0000} {rate:0} voxels/s ETA {eta:h\\:mm\\:ss} (training only), cpu {CpuSeconds():0} s");
            }
        }
        double dt = (_sw.Elapsed - t0).TotalSeconds;
        _trainSeconds += dt;
        Run.Epoch = epoch;
        return (lossSum / _o.StepsPerEpoch, dt);
    }

    public void Dispose() => _opt.Dispose();
}
