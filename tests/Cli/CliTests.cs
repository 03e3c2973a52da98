using System.CommandLine;
using Kernels.Bindings.Cuda;
using Kernels.Cli;
using Kernels.Nets;
using Kernels.Nets.IO;
using Kernels.Registry;
using Kernels.Tests.IO;

namespace Kernels.Tests.Cli;

/// <summary>Runs the `kernels` command in-process and looks at its exit code and output.</summary>
public class CliTests : TempFolderTest
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    private static string SamplePath => Path.Combine(TestContext.CurrentContext.TestDirectory, "Vectors", "safetensors_sample.safetensors");

    [Test]
    public void InfoListsEveryKernelFamily()
    {
        var (code, output, err) = Run("info");
        Assert.That(code, Is.Zero, err);
        Assert.That(KernelRegistry.Families, Is.Not.Empty);
        foreach (var family in KernelRegistry.Families) Assert.That(output, Does.Contain(family));
        Assert.That(output, Does.Contain("CPU"));
    }

    private static IEnumerable<string[]> EveryCommandPath()
    {
        var root = Program.BuildRoot(new CliContext(Program.PlainConsole(TextWriter.Null, 80), Program.PlainConsole(TextWriter.Null, 80)));
        var stack = new Stack<(Command Cmd, string[] Path)>();
        stack.Push((root, []));
        while (stack.Count > 0)
        {
            var (cmd, path) = stack.Pop();
            yield return path;
            foreach (var sub in cmd.Subcommands) stack.Push((sub, [.. path, sub.Name]));
        }
    }

    [Test]
    public void EveryVerbHasAUsefulHelp()
    {
        var paths = EveryCommandPath().ToList();
        Assert.That(paths.Select(p => string.Join(' ', p)), Is.SupersetOf(new[] { "", "info", "checkpoint", "checkpoint inspect", "checkpoint verify" }));
        foreach (var path in paths)
        {
            var (code, output, err) = Run([.. path, "--help"]);
            var what = $"kernels {string.Join(' ', path)} --help";
            Assert.That(code, Is.Zero, what + ": " + err);
            Assert.That(output, Does.Contain("Usage:"), what);
            Assert.That(output, Does.Contain("Description:"), what);
            Assert.That(output, Does.Contain("--device"), what + " shows the common options");
        }
        var cmdRoot = Program.BuildRoot(new CliContext(Program.PlainConsole(TextWriter.Null, 80), Program.PlainConsole(TextWriter.Null, 80)));
        foreach (var c in cmdRoot.Subcommands.Concat(cmdRoot.Subcommands.SelectMany(s => s.Subcommands)))
            Assert.That(c.Description, Is.Not.Null.And.Length.GreaterThan(20), c.Name);
    }

    [Test]
    public void CudaOnAMachineWithoutAGpuIsAOneLineUserError()
    {
        Assume.That(CudaDriverProbe.IsAvailable, Is.False, "this machine has a CUDA driver");
        var (code, output, err) = Run("--device", "cuda", "info");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--device cpu"));
        Assert.That(err, Does.StartWith("error: cannot use cuda"));
        Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one line, no stack trace");
        Assert.That(output, Is.Empty);

        // The option is accepted after the verb as well.
        Assert.That(Run("checkpoint", "inspect", SamplePath, "--device", "cuda:0").Code, Is.EqualTo(2));
    }

    [Test]
    public void VerboseAddsTheStackTrace()
    {
        var (code, _, err) = Run("checkpoint", "inspect", PathOf("missing.safetensors"), "--verbose");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("no such file"));
        Assert.That(err, Does.Contain("   at "));
    }

    [Test]
    public void DebugVariableAddsTheStackTrace()
    {
        var old = Environment.GetEnvironmentVariable(CliContext.DebugVariable);
        try
        {
            Environment.SetEnvironmentVariable(CliContext.DebugVariable, "1");
            var (code, _, err) = Run("--device", "nonsense", "info");
            Assert.That(code, Is.EqualTo(2));
            Assert.That(err, Does.Contain("unknown device 'nonsense'").And.Contain("   at "));
        }
        finally
        {
            Environment.SetEnvironmentVariable(CliContext.DebugVariable, old);
        }
    }

    [Test]
    public void UnknownDeviceAndImplementationAreUserErrors()
    {
        var (code, _, err) = Run("info", "--device", "tpu");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("unknown device 'tpu'"));
        Assert.That(err, Does.Not.Contain("   at "));

        (code, _, err) = Run("info", "--impl", "nosuchfamily=cpu");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("unknown kernel family 'nosuchfamily'"));

        (code, _, err) = Run("info", "--impl", "gemm=nosuchimpl");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("unknown implementation 'nosuchimpl'"));
    }

    [Test]
    public void ValidImplSpecIsAccepted()
    {
        var (code, _, err) = Run("info", "--impl", "gemm=cpu, elementwise=cpu");
        Assert.That(code, Is.Zero, err);
        (code, _, err) = Run("info", "--impl", "cpu");
        Assert.That(code, Is.Zero, err);
    }

    [Test]
    public void SeedSeedsTheGlobalGenerator()
    {
        var saved = Rng.Global.GetState();
        try
        {
            Assert.That(Run("info", "--seed", "77").Code, Is.Zero);
            Assert.That(Rng.Global.GetState(), Is.EqualTo(new Rng(77).GetState()));
        }
        finally
        {
            Rng.Global.SetState(saved);
        }
    }

    [Test]
    public void SyntaxErrorsAreUserErrors()
    {
        var (code, _, err) = Run("checkpoint", "inspect");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("error:").And.Contain("kernels checkpoint inspect --help"));

        (code, _, err) = Run("frobnicate");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("frobnicate"));

        (code, _, _) = Run("info", "--seed", "minus-one");
        Assert.That(code, Is.EqualTo(2));
    }

    [Test]
    public void InspectListsTensorsAndMetadata()
    {
        var (code, output, err) = Run("checkpoint", "inspect", SamplePath);
        Assert.That(code, Is.Zero, err);
        foreach (var name in new[] { "weight", "rand64", "index", "bf16", "f16", "empty", "scalar" })
            Assert.That(output, Does.Contain(name));
        Assert.That(output, Does.Contain("BF16").And.Contain("I64").And.Contain("F64"));
        Assert.That(output, Does.Contain("[2, 3, 4]").And.Contain("[0, 4]"));
        Assert.That(output, Does.Contain("11 tensors"));
        Assert.That(output, Does.Contain("producer").And.Contain("torch 1.13"));
        Assert.That(output, Does.Contain("ünïcödé ✓"));
    }

    [Test]
    public void InspectOnAMalformedFileGivesTheReason()
    {
        var path = WriteRaw("bad.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 11);
        var (code, output, err) = Run("checkpoint", "inspect", path);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain(path).And.Contain("not a valid safetensors file").And.Contain("3 trailing bytes"));
        Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(output, Is.Empty);
    }

    [Test]
    public void VerifyCountsNonFiniteValuesPerTensor()
    {
        var path = PathOf("nan.safetensors");
        using (var clean = Tensor.FromArray(new float[] { 1, 2, 3 }, [3]))
        using (var ints = Tensor.FromArray(new[] { 1, 2 }, [2]))
        using (var dirty = Tensor.FromArray(new[] { double.NaN, 1, double.PositiveInfinity, double.NaN, double.NegativeInfinity }, [5]))
        {
            SafeTensors.Save(path, [new("clean", clean), new("ints", ints)]);
            var (code, output, err) = Run("checkpoint", "verify", path);
            Assert.That(code, Is.Zero, err);
            Assert.That(output, Does.Contain("2 tensors read, all values finite"));

            SafeTensors.Save(path, [new("clean", clean), new("dirty", dirty)]);
            (code, output, _) = Run("checkpoint", "verify", path);
            Assert.That(code, Is.EqualTo(1));
            var row = output.Split('\n').Single(l => l.Contains("dirty"));
            Assert.That(row, Does.Match(@"│\s+2\s+│\s+2\s+│"), "2 NaN, 2 Inf");
            Assert.That(row, Does.Contain("non-finite"));
            Assert.That(output, Does.Contain("1 of 2 tensors hold NaN or infinite values"));
        }
    }

    [Test]
    public void VerifyReadsThePythonSampleAndFindsItsInfinity()
    {
        var (code, output, _) = Run("checkpoint", "verify", SamplePath);
        Assert.That(code, Is.EqualTo(1), "the sample's bf16 tensor holds -inf on purpose");
        Assert.That(output.Split('\n').Where(l => l.Contains("non-finite")).Select(l => l.Split('│')[1].Trim()),
            Is.EquivalentTo(new[] { "bf16", "bf16.f32" }));
    }

    [Test]
    public void VerifyOnAMalformedFileIsAUserError()
    {
        var path = WriteRaw("bad.safetensors", "{\"a\":{\"dtype\":\"Q8\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
        var (code, _, err) = Run("checkpoint", "verify", path);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("unknown dtype \"Q8\""));
    }
}
