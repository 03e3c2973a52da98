using Kernels.Bindings.Nvrtc;

namespace Kernels.Tests.Bindings;

/// <summary>NVRTC compiles the repository's hand-written kernels (the same sources the emu
/// device runs) to PTX with no GPU present.</summary>
public class NvrtcBindingsTests
{
    private static void RequireNvrtc()
    {
        if (!Nvrtc.IsAvailable) Assert.Inconclusive($"NVRTC is not installed: {Nvrtc.Reason}");
    }

    private static NvrtcOptions Options(string arch) =>
        new(arch) { IncludePaths = [Path.Combine(BindingsSupport.RepoRoot(), "native", "include")] };

    [Test]
    public void Version_IsAtLeast11()
    {
        RequireNvrtc();
        var (major, minor) = Nvrtc.Version;
        Assert.That(major, Is.GreaterThanOrEqualTo(11));
        Assert.That(minor, Is.GreaterThanOrEqualTo(0));
        Assert.That(Nvrtc.Library.Names, Does.Contain(Nvrtc.Library.LoadedName));
    }

    [TestCase("compute_80", "sm_80")]
    [TestCase("compute_90", "sm_90")]
    public void EveryNativeSource_CompilesToPtx_WithEveryKernelEntry(string arch, string target)
    {
        RequireNvrtc();
        var sources = BindingsSupport.NativeSources();
        Assert.That(sources, Is.Not.Empty);
        foreach (var path in sources)
        {
            var names = BindingsSupport.KernelNames(File.ReadAllText(path));
            Assert.That(names, Is.Not.Empty, $"{path} declares no extern \"C\" __global__ kernel");
            var result = Nvrtc.CompileFile(path, Options(arch));
            Assert.That(result.Ptx, Is.Not.Null, path);
            Assert.That(result.Ptx, Does.Contain($".target {target}"), path);
            Assert.That(result.Cubin, Is.Null, "a virtual architecture gives no cubin");
            foreach (var name in names)
                Assert.That(result.Ptx, Does.Match($@"\.entry\s+{name}\s*\("), $"{Path.GetFileName(path)}: .entry {name}");
        }
    }

    [Test]
    public void RealArchitecture_GivesAnElfCubin_WhereSupported()
    {
        RequireNvrtc();
        if (!Nvrtc.SupportsCubin) Assert.Inconclusive($"NVRTC {Nvrtc.Version} has no nvrtcGetCUBIN");
        var path = Path.Combine(BindingsSupport.RepoRoot(), "native", "activation.cu");
        var result = Nvrtc.CompileFile(path, Options("sm_90"));
        Assert.That(result.Cubin, Is.Not.Null);
        Assert.That(result.Cubin!.Take(4), Is.EqualTo(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }));
    }

    [Test]
    public void Defines_ReachTheSource()
    {
        RequireNvrtc();
        const string src = "extern \"C\" __global__ void KERNEL_NAME(float* y) { y[0] = SCALE; }";
        var result = Nvrtc.Compile(src, "defines.cu", new NvrtcOptions("compute_80") { Defines = ["KERNEL_NAME=scaled_kernel", "SCALE=2.5f"] });
        Assert.That(result.Ptx, Does.Contain(".entry scaled_kernel"));
        // 2.5f reaches the PTX as a float literal or as its bit pattern stored as an integer.
        Assert.That(result.Ptx, Does.Contain("0f40200000").Or.Contain(BitConverter.SingleToInt32Bits(2.5f).ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Test]
    public void BrokenSource_ThrowsWithTheCompilerLog()
    {
        RequireNvrtc();
        const string src = "extern \"C\" __global__ void broken(float* y) { y[0] = not_declared_anywhere; }";
        var e = Assert.Throws<NvrtcException>(() => Nvrtc.Compile(src, "broken.cu", new NvrtcOptions("compute_80")))!;
        Assert.Multiple(() =>
        {
            Assert.That(e.Call, Is.EqualTo("nvrtcCompileProgram"));
            Assert.That(e.Log, Does.Contain("broken.cu").And.Contain("not_declared_anywhere"));
            Assert.That(e.Message, Does.Contain(e.Log), "the log is in the message");
            Assert.That(e.Message, Does.Contain("NVRTC_ERROR_COMPILATION").And.Contain("compute_80"));
        });
    }

    [Test]
    public void EmptyArch_IsRefusedBeforeNvrtc()
    {
        var e = Assert.Throws<ArgumentException>(() => new NvrtcOptions("").ToArguments())!;
        Assert.That(e.Message, Does.Contain("Arch"));
    }
}
