using BenchmarkDotNet.Running;

namespace Kernels.Benchmarks;

/// <summary>BenchmarkDotNet entry: `dotnet run -c Release --project benchmarks -- --filter '*'`.
/// The side-by-side PyTorch figures come from benchmarks/torch_peer.py (see README).</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
