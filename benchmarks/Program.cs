using BenchmarkDotNet.Running;

namespace Kernels.Benchmarks;

/// <summary>BenchmarkDotNet entry: `dotnet run -c Release --project benchmarks -- --filter '*'`.
/// Side-by-side PyTorch figures: `python3 benchmarks/compare.py` (see benchmarks/README.md).</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
