using System.Diagnostics;
using System.Text.RegularExpressions;
using ILGPU.Runtime.Cuda;
using Kernels.Ilgpu;

namespace Kernels.Tests.Ilgpu;

/// <summary>Every ILGPU kernel compiles to PTX with ILGPU's PTX backend (no GPU needed), for sm_80
/// and sm_90, with one .param per C# parameter (an ArrayView is one 16-byte (pointer, length)
/// parameter — what IlgpuCuda.Launch passes); where ptxas is installed, the PTX assembles for
/// sm_90 without register spills.</summary>
public class IlgpuPtxTests
{
    public static IEnumerable<TestCaseData> Kernels() =>
        IlgpuKernels.All.Select(k => new TestCaseData(k).SetArgDisplayNames(k.Name));

    [Test]
    public void EveryFamilyWithAnIlgpuImplementationHasKernels() =>
        Assert.That(IlgpuKernels.All, Is.Not.Empty);

    [TestCaseSource(nameof(Kernels))]
    public void CompilesToPtxWithTheExpectedParameters(IlgpuKernel kernel)
    {
        foreach (var arch in new[] { CudaArchitecture.SM_80, CudaArchitecture.SM_90 })
        {
            var (ptx, entry) = IlgpuCuda.CompilePtx(kernel.Method, arch);
            Assert.That(ptx, Does.Contain($".entry {entry}"), $"{kernel.Name}: entry point missing");
            var m = Regex.Match(ptx, $@"\.entry {Regex.Escape(entry)}\s*\((?<params>[^)]*)\)", RegexOptions.Singleline);
            Assert.That(m.Success, $"{kernel.Name}: no parameter list found");
            var ps = m.Groups["params"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(ps, Has.Length.EqualTo(kernel.Parameters.Count), $"{kernel.Name} on {arch}: .param list\n{m.Value}");
            for (int i = 0; i < ps.Length; i++)
            {
                var p = kernel.Parameters[i];
                string expect = p == typeof(int) || p == typeof(float) ? @"\.(b|s|u|f)32"
                    : p == typeof(long) ? @"\.(b|s|u)64"
                    : @"\.align 8 \.b8 \S+\[16\]";
                Assert.That(Regex.IsMatch(ps[i], expect), $"{kernel.Name}, parameter {i} ({p.Name}): '{ps[i].Trim()}'");
            }
        }
    }

    [TestCaseSource(nameof(Kernels))]
    public void AssemblesForSm90WithoutSpills(IlgpuKernel kernel)
    {
        var ptxas = FindPtxas();
        if (ptxas is null) Assert.Ignore("ptxas not installed (CI installs the CUDA toolkit; see scripts/install-cuda.sh)");
        var (ptx, _) = IlgpuCuda.CompilePtx(kernel.Method, CudaArchitecture.SM_90);
        var dir = Directory.CreateTempSubdirectory("ilgpu-ptx");
        try
        {
            var src = Path.Combine(dir.FullName, "k.ptx");
            File.WriteAllText(src, ptx);
            var psi = new ProcessStartInfo(ptxas, ["-arch=sm_90", "-v", src, "-o", Path.Combine(dir.FullName, "k.cubin")])
            { RedirectStandardError = true, RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.That(p.ExitCode, Is.Zero, $"ptxas failed on {kernel.Name}:\n{output}");
            foreach (Match s in Regex.Matches(output, @"(\d+) bytes spill stores, (\d+) bytes spill loads"))
                Assert.That(s.Groups[1].Value == "0" && s.Groups[2].Value == "0", $"{kernel.Name} spills registers:\n{output}");
            TestContext.Out.WriteLine(output.Trim());
        }
        finally { dir.Delete(true); }
    }

    private static string? FindPtxas()
    {
        foreach (var d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/local/cuda/bin"))
        {
            var f = Path.Combine(d, "ptxas");
            if (File.Exists(f)) return f;
        }
        return null;
    }
}
