using Kernels.Nets;
using Kernels.Nets.IO;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Networks;

/// <summary>Model, optimizer, schedule and EMA state written to safetensors files and read back
/// continue training exactly as an uninterrupted run.</summary>
public class ResumeTests
{
    private sealed class Run : IDisposable
    {
        public readonly Sequential Model = new(new Linear(3, 6, dtype: DType.F64), new BatchNorm1d(6, dtype: DType.F64),
            new ReLU(), new Linear(6, 2, dtype: DType.F64));
        public readonly AdamW Opt;
        public readonly OneCycleLR Sched;
        public readonly ModelEma Ema;

        public Run()
        {
            Opt = new AdamW(ParamGroup.DecayAndNoDecay(Model, 0.05), lr: 1e-2);
            Sched = new OneCycleLR(Opt, 0.05, totalSteps: 20);
            Ema = new ModelEma(Model, 0.8);
        }

        public double Step(Tensor x, Tensor y)
        {
            using var scope = TensorScope.Begin();
            var loss = F.CrossEntropy(Model.Forward(x), y);
            Opt.ZeroGrad();
            loss.Backward();
            Opt.Step();
            Sched.Step();
            Ema.Update(Model);
            return loss.Item();
        }

        public void Dispose()
        {
            Model.Dispose();
            Opt.Dispose();
            Ema.Dispose();
        }
    }

    [Test]
    public void SavedStateResumesIdentically()
    {
        var dir = Path.Combine(Path.GetTempPath(), "nets-resume-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            using var x = Tensor.FromHost(Enumerable.Range(0, 24).Select(i => Math.Sin(i * 1.3)).ToArray(), [8, 3], DType.F64);
            using var y = Tensor.FromArray(new[] { 0, 1, 1, 0, 1, 0, 0, 1 }, [8]);
            Rng.Seed(21);
            using var a = new Run();
            for (int s = 0; s < 5; s++) a.Step(x, y);
            new TrainingState(a.Model.StateDict(), new Dictionary<string, string>()).Save(Path.Combine(dir, "model.safetensors"));
            a.Opt.StateDict().Save(Path.Combine(dir, "optim.safetensors"));
            TrainingState.OfMetadata(a.Sched.StateDict()).Save(Path.Combine(dir, "sched.safetensors"));
            TrainingState.OfTensors(a.Ema.State).Save(Path.Combine(dir, "ema.safetensors"));

            Rng.Seed(99); // a different initialisation that the load must overwrite
            using var b = new Run();
            var model = TrainingState.Load(Path.Combine(dir, "model.safetensors"));
            var optim = TrainingState.Load(Path.Combine(dir, "optim.safetensors"));
            var ema = TrainingState.Load(Path.Combine(dir, "ema.safetensors"));
            b.Model.LoadStateDict(model.Tensors);
            b.Opt.LoadStateDict(optim);
            b.Sched.LoadStateDict(TrainingState.Load(Path.Combine(dir, "sched.safetensors")).Metadata);
            b.Ema.LoadStateDict(ema.Tensors, a.Ema.Updates);
            model.DisposeTensors();
            optim.DisposeTensors();
            ema.DisposeTensors();

            for (int s = 5; s < 12; s++)
                Assert.That(b.Step(x, y), Is.EqualTo(a.Step(x, y)), $"loss at step {s}");
            foreach (var ((name, ta), (_, tb)) in a.Model.StateDict().Zip(b.Model.StateDict()))
                Approx.Equal(ta, tb, 0, 0, name);
            foreach (var (name, t) in a.Ema.State)
                Approx.Equal(t, b.Ema.State[name], 0, 0, "ema " + name);
            Assert.That(b.Opt.Groups[0].Lr, Is.EqualTo(a.Opt.Groups[0].Lr));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
