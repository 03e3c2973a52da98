using Kernels.Cli;
using Kernels.Ops.Activation;
using Kernels.Registry;
using Kernels.SelfTesting;
using Kernels.Tests.Native;

namespace Kernels.Tests.SelfTest;

using SelfTest = Kernels.SelfTesting.SelfTest;

/// <summary>The kernel self-test: it passes for every family on the cpu (and the native families
/// on emu), and it fails for an implementation that is slightly wrong, leaves outputs unwritten
/// or throws.</summary>
public class SelfTestTests
{
    private static IEnumerable<string> Families() => KernelRegistry.Families;

    private static string Failures(IEnumerable<SelfTestResult> results) =>
        string.Join("\n", results.Where(r => !r.Passed).Take(20)
            .Select(r => $"{r.Family}/{r.Implementation} {r.Case}: rel {r.MaxRelError:g3} > {r.Tolerance:g3} {r.Error}"));

    [TestCaseSource(nameof(Families))]
    public void PassesOnCpu(string family)
    {
        int seed = Random.Shared.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var results = SelfTest.Run(Device.Cpu, family, SelfTestSizes.Small, seed);
        Assert.That(results, Is.Not.Empty, $"no cases ran for {family}");
        Assert.That(results.All(r => r.Family == family), Is.True);
        // Every implementation the registry lists for the cpu ran (OpenBLAS only when it loads).
        var ran = results.Select(r => r.Implementation).Distinct().ToList();
        Assert.That(ran, Does.Contain("cpu"));
        Assert.That(results.Where(r => !r.Passed), Is.Empty, Failures(results));
        Assert.That(results.All(r => r.MaxRelError <= r.Tolerance && !double.IsNaN(r.MaxAbsError)), Is.True);
    }

    /// <summary>Every family has an ILGPU implementation, and it passes on ILGPU's CPU accelerator
    /// (the same kernels run on cuda, compiled to PTX; tests/Ilgpu checks they compile).</summary>
    [TestCaseSource(nameof(Families))]
    public void PassesOnIlgpuCpu(string family)
    {
        int seed = Random.Shared.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var results = SelfTest.Run(Kernels.Ilgpu.IlgpuCpuDevice.Instance, family, SelfTestSizes.Small, seed);
        // Every implementation on ilgpu-cpu runs (the ILGPU kernels; for Conv also im2col on the ILGPU GEMM).
        Assert.That(results.Select(r => r.Implementation).Distinct(), Does.Contain("ilgpu"), $"no ilgpu cases for {family}");
        Assert.That(results.Where(r => !r.Passed), Is.Empty, Failures(results));
    }

    [TestCase("Activation")]
    [TestCase("AsymmetricLoss")]
    [TestCase("Elementwise")]
    [TestCase("AttentionDecode")]
    [TestCase("GroupDecode")]
    [TestCase("Conv")]
    public void PassesOnEmu(string family)
    {
        EmuSupport.RequireLibrary();
        var results = SelfTest.Run(EmuDevice.Instance, family, SelfTestSizes.Small, Random.Shared.Next());
        Assert.That(results.Select(r => r.Implementation).Distinct(), Is.EqualTo(new[] { "native" }));
        Assert.That(results.Where(r => !r.Passed), Is.Empty, Failures(results));
    }

    [Test]
    public void TheCorrectImplementationPassesThroughTheInjectionHook()
    {
        var results = SelfTest.RunImplementation(Device.Cpu, "Activation", "cpu-again", new ActivationCpu());
        Assert.That(results, Has.Count.GreaterThanOrEqualTo(15));
        Assert.That(results.Where(r => !r.Passed), Is.Empty, Failures(results));
    }

    [Test]
    public void CatchesAForwardThatIsOffByALittle()
    {
        var results = SelfTest.RunImplementation(Device.Cpu, "Activation", "off", new WrongActivation(Flaw.Scaled));
        var failed = results.Where(r => !r.Passed).ToList();
        // Each activation kind has a case of 1029 elements where the 1e-3 scaling shows.
        foreach (var kind in Enum.GetValues<ActivationKind>())
            Assert.That(failed.Any(r => r.Case.StartsWith($"{kind} n=1029", StringComparison.Ordinal)), Is.True,
                $"{kind} was not caught:\n{string.Join("\n", results.Select(r => $"{r.Case} {r.MaxRelError:g3}"))}");
        Assert.That(failed.All(r => r.MaxRelError > r.Tolerance), Is.True);
        Assert.That(failed.Max(r => r.MaxRelError), Is.GreaterThan(5e-4).And.LessThan(1e-2)); // dx of sigmoid and tanh reads the scaled y
    }

    [Test]
    public void CatchesAnUnwrittenOutputElement()
    {
        var results = SelfTest.RunImplementation(Device.Cpu, "Activation", "short", new WrongActivation(Flaw.SkipsLast));
        Assert.That(results, Is.Not.Empty);
        foreach (var r in results)
        {
            Assert.That(r.Passed, Is.False, r.Case);
            Assert.That(r.Error, Does.Contain("y[").And.Contain("NaN"), r.Case);
        }
    }

    [Test]
    public void ReportsAnImplementationThatThrows()
    {
        var results = SelfTest.RunImplementation(Device.Cpu, "Activation", "throws", new WrongActivation(Flaw.ThrowsInBackward));
        Assert.That(results, Is.Not.Empty);
        Assert.That(results.All(r => !r.Passed && r.Error!.Contains("backward is broken")), Is.True);
    }

    [Test]
    public void RejectsAnUnknownFamilyAndAMismatchedImplementation()
    {
        var e = Assert.Throws<ArgumentException>(() => SelfTest.Run(Device.Cpu, "NoSuchFamily"));
        Assert.That(e!.Message, Does.Contain("NoSuchFamily").And.Contain("Gemm").And.Contain("Activation"));
        Assert.Throws<ArgumentException>(() => SelfTest.RunImplementation(Device.Cpu, "Gemm", "x", new ActivationCpu()));
    }

    [Test]
    public void TheSameSeedGivesTheSameErrors()
    {
        var a = SelfTest.Run(Device.Cpu, "Softmax", SelfTestSizes.Small, 1234);
        var b = SelfTest.Run(Device.Cpu, "Softmax", SelfTestSizes.Small, 1234);
        Assert.That(b.Select(r => r.MaxAbsError), Is.EqualTo(a.Select(r => r.MaxAbsError)));
    }

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e, width: 240);
        return (code, o.ToString(), e.ToString());
    }

    [Test]
    public void VerbExitsZeroOnCpu()
    {
        var (code, output, err) = Cli("selftest", "--device", "cpu");
        Assert.That(code, Is.Zero, err + output);
        Assert.That(output, Does.Contain("passed:"));
        foreach (var family in KernelRegistry.Families) Assert.That(output, Does.Contain(family));
    }

    [Test]
    public void VerbRunsOneFamily()
    {
        var (code, output, err) = Cli("selftest", "--device", "cpu", "--op", "softmax");
        Assert.That(code, Is.Zero, err + output);
        Assert.That(output, Does.Contain("Softmax").And.Contain("1 family"));
        Assert.That(output, Does.Not.Contain("Gemm"));
    }

    [Test]
    public void VerbExitsTwoForAnUnknownOp()
    {
        var (code, _, err) = Cli("selftest", "--device", "cpu", "--op", "Convolution9");
        Assert.That(code, Is.EqualTo(Program.ExitUserError));
        Assert.That(err, Does.Contain("Convolution9").And.Contain("known:").And.Contain("Gemm"));
    }

    [Test]
    public void VerbExitsTwoForAnUnusableDevice()
    {
        // No machine has a hundredth CUDA device: the device check fails before any work.
        var (code, output, err) = Cli("selftest", "--device", "cuda:99");
        Assert.That(code, Is.EqualTo(Program.ExitUserError), output);
        Assert.That(err, Does.Contain("cuda:99"));
        Assert.That(output, Does.Not.Contain("passed:"));
    }

    [Test]
    public void VerbExitsTwoForAFamilyWithoutImplementationOnTheDevice()
    {
        EmuSupport.RequireLibrary();
        var (code, output, err) = Cli("selftest", "--device", "emu", "--op", "Gemm");
        Assert.That(code, Is.EqualTo(Program.ExitUserError), output);
        Assert.That(err, Does.Contain("Gemm").And.Contain("Activation"));
    }

    [Test]
    public void VerbExitsZeroOnEmu()
    {
        EmuSupport.RequireLibrary();
        var (code, output, err) = Cli("selftest", "--device", "emu");
        Assert.That(code, Is.Zero, err + output);
        Assert.That(output, Does.Contain("native").And.Contain("Elementwise").And.Contain("no implementation on emu"));
    }

    [Test]
    public void VerbExitsTwoForBadSizes()
    {
        var (code, _, err) = Cli("selftest", "--device", "cpu", "--sizes", "huge");
        Assert.That(code, Is.EqualTo(Program.ExitUserError));
        Assert.That(err, Does.Contain("huge"));
    }

    private enum Flaw { Scaled, SkipsLast, ThrowsInBackward }

    /// <summary>The cpu activation with one deliberate flaw, to show that the self-test can fail.</summary>
    private sealed class WrongActivation(Flaw flaw) : IActivation
    {
        private readonly ActivationCpu _inner = new();

        public void Forward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y)
        {
            bool f32 = y.DType == DType.F32; // the reference run (float64) stays correct
            // The last element is never written: it keeps the poison.
            _inner.Forward(kind, alpha, f32 && flaw == Flaw.SkipsLast ? n - 1 : n, x, y);
            if (f32 && flaw == Flaw.Scaled)
            {
                var s = CpuBuffer.Span<float>(y);
                for (int i = 0; i < s.Length; i++) s[i] *= 1.001f;
            }
        }

        public void Backward(ActivationKind kind, double alpha, long n, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dy,
            DeviceBuffer dx)
        {
            if (flaw == Flaw.ThrowsInBackward) throw new InvalidOperationException("backward is broken");
            _inner.Backward(kind, alpha, n, x, y, dy, dx);
        }
    }
}
