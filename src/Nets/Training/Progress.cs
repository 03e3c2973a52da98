using System.Globalization;

namespace Kernels.Nets.Training;

/// <summary>Where a training run stands after one optimizer step.</summary>
/// <param name="Loss">this step's loss (per image)</param>
/// <param name="ImagesPerSecond">throughput of this session so far (steps since the start or the resume)</param>
/// <param name="Eta">estimated time to the end of the run at that throughput</param>
public readonly record struct TrainingStep(int Epoch, int Epochs, int Step, int StepsPerEpoch, double Loss,
    double ImagesPerSecond, TimeSpan Eta)
{
    /// <summary>Steps done in the whole run, resumed epochs included.</summary>
    public long Done => (long)(Epoch - 1) * StepsPerEpoch + Step;

    public long Total => (long)Epochs * StepsPerEpoch;

    /// <summary>"epoch 2/10 step 30/60 loss 0.1234 512 img/s ETA 01:23".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"epoch {Epoch}/{Epochs} step {Step}/{StepsPerEpoch} loss {Loss:0.0000} {ImagesPerSecond:0} img/s ETA {FormatEta(Eta)}");

    /// <summary>m:ss, or h:mm:ss past an hour.</summary>
    public static string FormatEta(TimeSpan t)
    {
        if (t < TimeSpan.Zero || t.TotalDays > 99) return "--:--";
        return t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes:00}:{t.Seconds:00}");
    }
}

/// <summary>What a trainer tells the person watching: every step (<see cref="Step"/>) and whole
/// lines (run header, epoch results, warnings) through <see cref="Line"/>. A terminal shows a live
/// bar; a log or a pipe gets <see cref="LineProgress"/>'s periodic lines.</summary>
public interface ITrainingProgress
{
    void Step(in TrainingStep step);

    void Line(string text);
}

/// <summary>Plain progress for logs and pipes: a line "  epoch e/E step s/S loss … img/s ETA …"
/// about <paramref name="linesPerEpoch"/> times per epoch, plus every <see cref="Line"/>.</summary>
public sealed class LineProgress(Action<string> write, int linesPerEpoch = 5) : ITrainingProgress
{
    public void Step(in TrainingStep step)
    {
        int every = Math.Max(1, step.StepsPerEpoch / Math.Max(1, linesPerEpoch));
        if (step.Step % every == 0 || step.Step == step.StepsPerEpoch) write("  " + step);
    }

    public void Line(string text) => write(text);
}
