using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Kernels.Benchmarks;

/// <summary>A short job for the side-by-side comparison with PyTorch (benchmarks/compare.py): in
/// process (no separate build; the project turns tiered compilation off, so the first call already
/// runs optimised code), 2 warm-ups, 5 measured iterations of one call each, and the full
/// JSON report that compare.py reads. Medians over few iterations are enough for ratios on a
/// shared 2-core machine; use a longer job for precise numbers.</summary>
public sealed class QuickConfig : ManualConfig
{
    public QuickConfig()
    {
        AddJob(Job.Default
            .WithStrategy(RunStrategy.Monitoring)
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(5)
            .WithInvocationCount(1)
            .WithUnrollFactor(1)
            .WithId("Quick"));
        AddExporter(JsonExporter.Full);
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}
