using BenchmarkDotNet.Attributes;
using Kernels.Nets.Benchmarking;

namespace Kernels.Benchmarks;

/// <summary>One whole float32 training step on the CPU, timed end to end (the models, shapes and
/// optimizers: <see cref="BenchCases.TrainStepWorkload"/>, shared with `kernels bench`).
/// Descriptions are the join key with benchmarks/peer/train_step.py.
/// Check: python3 benchmarks/compare.py --filter '*TrainStep*' --peers train_step</summary>
[Config(typeof(QuickConfig))]
public class TrainStepBenchmarks
{
    private IBenchWorkload _cnn = null!, _mlp = null!;

    [GlobalSetup]
    public void Setup()
    {
        _cnn = BenchCases.TrainStepWorkload.Cnn(Device.Cpu);
        _mlp = BenchCases.TrainStepWorkload.Mlp(Device.Cpu);
    }

    [Benchmark(Description = "train step cnn b32 32x32")]
    public void Cnn() => _cnn.Run();

    [Benchmark(Description = "train step mlp b128")]
    public void Mlp() => _mlp.Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        _cnn.Dispose();
        _mlp.Dispose();
    }
}
