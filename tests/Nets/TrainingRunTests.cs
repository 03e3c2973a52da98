using Kernels.Nets;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using Kernels.Nets.Schedules;
using Kernels.Nets.Training;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Networks;

/// <summary>One checkpoint file resumes a run exactly: model, optimizer, schedule, EMA, step and
/// the generator (the model uses dropout, so a wrong RNG state changes the losses).</summary>
public class TrainingRunTests
{
    private sealed class Setup : IDisposable
    {
        public readonly Sequential Model = new(new Linear(5, 16), new ReLU(), new Dropout(0.3), new Linear(16, 3));
        public readonly TrainingRun Run;

        public Setup(Rng rng)
        {
            var opt = new AdamW(ParamGroup.DecayAndNoDecay(Model, 0.01), lr: 1e-2);
            Run = new TrainingRun(Model, opt, new OneCycleLR(opt, 0.05, totalSteps: 40), new ModelEma(Model, 0.9), rng);
        }

        public double Step(Tensor x, Tensor y)
        {
            using var scope = TensorScope.Begin();
            var loss = F.CrossEntropy(Model.Forward(x), y);
            Run.Optimizer!.ZeroGrad();
            loss.Backward();
            Run.Optimizer.Step();
            Run.Schedule!.Step();
            Run.Ema!.Update(Model);
            Run.Step++;
            return loss.Item();
        }

        public void Dispose()
        {
            Model.Dispose();
            Run.Optimizer!.Dispose();
            Run.Ema!.Dispose();
        }
    }

    [Test]
    public void OneFileResumesTheRunBitForBit()
    {
        var path = Path.Combine(Path.GetTempPath(), $"run-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var x = Tensor.FromHost(Enumerable.Range(0, 60).Select(i => Math.Sin(i * 0.7)).ToArray(), [12, 5]);
            using var y = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => i % 3).ToArray(), [12]);
            var saved = Rng.Global.GetState();
            try
            {
                Rng.Seed(5);
                using var a = new Setup(Rng.Global);
                for (int s = 0; s < 10; s++) a.Step(x, y);
                a.Run.Save(path);
                var expected = Enumerable.Range(0, 8).Select(_ => a.Step(x, y)).ToArray();

                Rng.Seed(77); // different initial weights and a different generator position
                using var b = new Setup(Rng.Global);
                b.Run.Load(path);
                Assert.That(b.Run.Step, Is.EqualTo(10));
                var resumed = Enumerable.Range(0, 8).Select(_ => b.Step(x, y)).ToArray();
                Assert.That(resumed, Is.EqualTo(expected), "losses after resuming");

                // Without the generator state the dropout masks differ: the check above can fail.
                using var c = new Setup(Rng.Global);
                c.Run.Load(path);
                Rng.Global.Reseed(123);
                var drifted = Enumerable.Range(0, 8).Select(_ => c.Step(x, y)).ToArray();
                Assert.That(drifted, Is.Not.EqualTo(expected));
            }
            finally
            {
                Rng.Global.SetState(saved);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void ACheckpointWithoutAnOptimizerIsRefusedByARunThatNeedsOne()
    {
        var path = Path.Combine(Path.GetTempPath(), $"run-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var model = new Linear(3, 2);
            new TrainingRun(model).Save(path);
            using var withOpt = new Linear(3, 2);
            using var opt = new Sgd(withOpt.Parameters(), lr: 0.1);
            var ex = Assert.Throws<InvalidDataException>(() => new TrainingRun(withOpt, opt).Load(path));
            Assert.That(ex!.Message, Does.Contain("optimizer").And.Contain(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
