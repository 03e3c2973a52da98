using Kernels.Nets;
using Kernels.Nets.Modules;
using Kernels.Nets.Schedules;
using Kernels.Tests.Support;

namespace Kernels.Tests.Networks;

public class EmaTests
{
    [Test]
    public void ShadowFollowsTheExponentialAverageAndCopiesBack()
    {
        using var model = new Sequential(new Linear(3, 2, dtype: DType.F64), new BatchNorm1d(2, dtype: DType.F64));
        var w0 = ((Linear)model[0]).Weight.ToDoubles();
        using var ema = new ModelEma(model, decay: 0.75);
        var weight = ((Linear)model[0]).Weight;

        // Two "optimizer steps": set the weight to 1 then to 3.
        weight.Device.Upload<double>(Enumerable.Repeat(1.0, 6).ToArray(), weight.Buffer);
        ema.Update(model);
        weight.Device.Upload<double>(Enumerable.Repeat(3.0, 6).ToArray(), weight.Buffer);
        ema.Update(model);
        var expected = w0.Select(w => 0.75 * (0.75 * w + 0.25 * 1) + 0.25 * 3).ToArray();
        Approx.Equal(expected, ema.State["0.weight"], 1e-15, 1e-15, "shadow weight");
        Assert.That(ema.Updates, Is.EqualTo(2));
        Assert.That(ema.State.Keys, Is.EqualTo(model.StateDict().Keys), "parameters and buffers are averaged");

        using var copy = new Sequential(new Linear(3, 2, dtype: DType.F64), new BatchNorm1d(2, dtype: DType.F64));
        ema.CopyTo(copy);
        Approx.Equal(expected, ((Linear)copy[0]).Weight, 0, 0, "copied weight");

        // Restoring the averages (as from a checkpoint) into a fresh EMA.
        using var restored = new ModelEma(copy, decay: 0.75);
        restored.LoadStateDict(ema.State, ema.Updates);
        Approx.Equal(expected, restored.State["0.weight"], 0, 0, "restored shadow");
        Assert.That(restored.Updates, Is.EqualTo(2));
        var bad = ema.State.Where(kv => kv.Key != "0.bias").ToDictionary();
        Assert.That(() => restored.LoadStateDict(bad), Throws.ArgumentException.With.Message.Contain("0.bias"));
    }

    [Test]
    public void WarmupRampsTheDecay()
    {
        using var model = new Linear(2, 2);
        using var ema = new ModelEma(model, decay: 0.999, warmup: true);
        Assert.That(ema.CurrentDecay, Is.EqualTo(0.1).Within(1e-15));
        ema.Update(model);
        Assert.That(ema.CurrentDecay, Is.EqualTo(2.0 / 11).Within(1e-15));
        using var plain = new ModelEma(model, decay: 0.999);
        Assert.That(plain.CurrentDecay, Is.EqualTo(0.999));
    }
}
