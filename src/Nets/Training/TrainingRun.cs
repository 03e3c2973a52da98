using Kernels.Nets.IO;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;

namespace Kernels.Nets.Training;

/// <summary>The pieces of a training run that a checkpoint must hold so the run resumes where it
/// stopped: model, optimizer, schedule, EMA, step, epoch and the generator's state.</summary>
public sealed class TrainingRun(Module model, Optimizer? optimizer = null, LrSchedule? schedule = null,
    ModelEma? ema = null, Rng? rng = null)
{
    public Module Model { get; } = model;
    public Optimizer? Optimizer { get; } = optimizer;
    public LrSchedule? Schedule { get; } = schedule;
    public ModelEma? Ema { get; } = ema;
    /// <summary>The generator behind dropout, data order and augmentation (default: Rng.Global).</summary>
    public Rng Rng { get; } = rng ?? Rng.Global;
    public long Step { get; set; }
    public int Epoch { get; set; }

    /// <summary>Writes everything to one safetensors file (temporary file, then rename).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? extra = null)
    {
        var emaUpdates = new Dictionary<string, string>();
        if (Ema is not null) emaUpdates["updates"] = Ema.Updates.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var checkpoint = new TrainingCheckpoint
        {
            Step = Step,
            Epoch = Epoch,
            Model = TrainingState.OfTensors(Model.StateDict()),
            Optimizer = Optimizer?.StateDict(),
            Ema = Ema is null ? null : new TrainingState(Ema.State, emaUpdates),
            Schedule = Schedule?.StateDict() ?? new Dictionary<string, string>(),
            RngState = Rng.GetState(),
            Extra = extra ?? new Dictionary<string, string>(),
        };
        checkpoint.Save(path);
    }

    /// <summary>Loads a checkpoint written by <see cref="Save"/> into this run's objects. Parts
    /// this run has but the file lacks are an error that names them.</summary>
    public void Load(string path)
    {
        using var c = TrainingCheckpoint.Load(path, Model.Parameters().FirstOrDefault()?.Device);
        if (Optimizer is not null && c.Optimizer is null) throw Missing(path, "optimizer");
        if (Ema is not null && c.Ema is null) throw Missing(path, "EMA");
        if (c.RngState is null) throw Missing(path, "RNG state");
        Model.LoadStateDict(c.Model.Tensors);
        if (Optimizer is not null) Optimizer.LoadStateDict(c.Optimizer!);
        if (Schedule is not null) Schedule.LoadStateDict(c.Schedule);
        if (Ema is not null)
        {
            long updates = c.Ema!.Metadata.TryGetValue("updates", out var u)
                ? long.Parse(u, System.Globalization.CultureInfo.InvariantCulture)
                : 0;
            Ema.LoadStateDict(c.Ema.Tensors, updates);
        }
        c.RestoreRng(Rng);
        Step = c.Step;
        Epoch = c.Epoch;
    }

    private static InvalidDataException Missing(string path, string part) =>
        new($"{path}: the checkpoint holds no {part}, but this run needs it to resume; was it written by a different setup?");
}
