using Kernels.Tests.Support;
using System.Text;
using Kernels.Bindings.Nvrtc;

namespace Kernels.Tests.Native;

/// <summary>Source (c) of <see cref="NativeModules"/>: the embedded native/*.cu compiled by NVRTC
/// for a device's arch and cached on disk; and the choice between (a) prebuilt cubin and (b)
/// prebuilt PTX. Every test uses its own temp folders, never the user's cache.</summary>
public class NvrtcCacheTests : TempDirTest
{
    private static void RequireNvrtc()
    {
        if (!Nvrtc.IsAvailable) Assert.Ignore($"NVRTC is not installed: {Nvrtc.Reason}");
    }

    private static bool IsElf(byte[] b) => b.Length > 4 && b[0] == 0x7F && b[1] == 'E' && b[2] == 'L' && b[3] == 'F';

    private static void AssertHoldsActivationKernels(NativeModuleImage image)
    {
        if (image.IsCubin)
        {
            Assert.That(IsElf(image.Image), "a cubin is an ELF file");
            // The entry names are in the ELF string table.
            var text = Encoding.ASCII.GetString(image.Image);
            Assert.That(text, Does.Contain("activation_forward_f32"));
            Assert.That(text, Does.Contain("activation_backward_f32"));
        }
        else
        {
            var ptx = Encoding.UTF8.GetString(image.Image);
            Assert.That(ptx, Does.Contain(".target sm_80"));
            Assert.That(ptx, Does.Match(@"\.entry\s+activation_forward_f32\s*\("));
            Assert.That(ptx, Does.Match(@"\.entry\s+activation_backward_f32\s*\("));
        }
    }

    [Test]
    public void EmbeddedSourcesAndHeadersAreThere()
    {
        Assert.That(NativeModules.EmbeddedSources(), Does.Contain("activation").And.Contain("elementwise"));
        Assert.That(NativeModules.Headers().Select(h => h.Path), Does.Contain("kernels/emu.h"));
        var root = Kernels.Tests.Bindings.BindingsSupport.RepoRoot();
        Assert.That(NativeModules.Source("activation"),
            Is.EqualTo(File.ReadAllText(Path.Combine(root, "native", "activation.cu"))));
        Assert.Throws<ArgumentException>(() => NativeModules.Source("no_such_family"));
    }

    [Test]
    public void CompilesActivationForSm80_ThenHitsTheCache_ThenRecompilesACorruptFile()
    {
        RequireNvrtc();
        var first = NativeModules.Compile("activation", "sm_80", Dir);
        Assert.That(first.Origin, Is.EqualTo(NativeModuleOrigin.NvrtcCompiled));
        Assert.That(first.IsCubin, Is.EqualTo(Nvrtc.SupportsCubin), "sm_80 gives a cubin where NVRTC can make one");
        AssertHoldsActivationKernels(first);
        var files = Directory.GetFiles(Dir);
        Assert.That(files, Has.Length.EqualTo(1), "one cache file, no temp file left behind");
        Assert.That(first.Detail, Is.EqualTo(files[0]));
        var key = NativeModules.CacheKey(NativeModules.Source("activation"), NativeModules.Headers(), "sm_80", Nvrtc.Version);
        Assert.That(files[0], Is.EqualTo(NativeModules.CachePath(Dir, "activation", "sm_80", key)));
        var written = File.GetLastWriteTimeUtc(files[0]);

        long compiles = NativeModules.NvrtcCompiles;
        var second = NativeModules.Compile("activation", "sm_80", Dir);
        Assert.That(second.Origin, Is.EqualTo(NativeModuleOrigin.NvrtcCache));
        Assert.That(NativeModules.NvrtcCompiles, Is.EqualTo(compiles), "a cache hit runs no NVRTC compile");
        Assert.That(second.Image, Is.EqualTo(first.Image));
        Assert.That(second.IsCubin, Is.EqualTo(first.IsCubin));
        Assert.That(File.GetLastWriteTimeUtc(files[0]), Is.EqualTo(written), "a hit does not rewrite the file");

        // Flip one byte of the payload: the checksum no longer matches, so it is compiled again.
        var bytes = File.ReadAllBytes(files[0]);
        bytes[^10] ^= 0x5A;
        File.WriteAllBytes(files[0], bytes);
        var third = NativeModules.Compile("activation", "sm_80", Dir);
        Assert.That(third.Origin, Is.EqualTo(NativeModuleOrigin.NvrtcCompiled));
        Assert.That(NativeModules.NvrtcCompiles, Is.EqualTo(compiles + 1));
        Assert.That(third.Image, Is.EqualTo(first.Image), "NVRTC is deterministic for the same input");
        Assert.That(NativeModules.Compile("activation", "sm_80", Dir).Origin, Is.EqualTo(NativeModuleOrigin.NvrtcCache),
            "the recompiled image replaced the corrupt file");

        // A truncated file (a crash mid-write by something else) is rejected too.
        File.WriteAllBytes(files[0], bytes.AsSpan(0, 20).ToArray());
        Assert.That(NativeModules.Compile("activation", "sm_80", Dir).Origin, Is.EqualTo(NativeModuleOrigin.NvrtcCompiled));
    }

    [Test]
    public void TheKeyChangesWithTheSourceTheHeadersTheArchAndTheVersion()
    {
        var source = NativeModules.Source("activation");
        var headers = NativeModules.Headers();
        var key = NativeModules.CacheKey(source, headers, "sm_80", (11, 8));
        Assert.That(key, Has.Length.EqualTo(64), "hex SHA-256");
        Assert.That(NativeModules.CacheKey(source, headers, "sm_80", (11, 8)), Is.EqualTo(key), "stable");
        Assert.That(NativeModules.CacheKey(source + "\n// edited\n", headers, "sm_80", (11, 8)), Is.Not.EqualTo(key));
        var editedHeaders = headers.Select(h => (h.Path, h.Text + " ")).ToList();
        Assert.That(NativeModules.CacheKey(source, editedHeaders, "sm_80", (11, 8)), Is.Not.EqualTo(key));
        Assert.That(NativeModules.CacheKey(source, headers, "sm_90", (11, 8)), Is.Not.EqualTo(key));
        Assert.That(NativeModules.CacheKey(source, headers, "sm_80", (12, 0)), Is.Not.EqualTo(key));
    }

    [Test]
    public void AChangedSourceCompilesAgainIntoANewEntry()
    {
        RequireNvrtc();
        var source = NativeModules.Source("activation");
        var headers = NativeModules.Headers();
        var a = NativeModules.Compile("activation", source, headers, "sm_80", Dir);
        long compiles = NativeModules.NvrtcCompiles;
        var edited = source + "\nextern \"C\" __global__ void activation_extra_probe(float* y) { y[0] = 1.0f; }\n";
        var b = NativeModules.Compile("activation", edited, headers, "sm_80", Dir);
        Assert.That(b.Origin, Is.EqualTo(NativeModuleOrigin.NvrtcCompiled), "the old entry must not serve a new source");
        Assert.That(NativeModules.NvrtcCompiles, Is.EqualTo(compiles + 1));
        Assert.That(b.Detail, Is.Not.EqualTo(a.Detail));
        Assert.That(Directory.GetFiles(Dir), Has.Length.EqualTo(2));
        var text = b.IsCubin ? Encoding.ASCII.GetString(b.Image) : Encoding.UTF8.GetString(b.Image);
        Assert.That(text, Does.Contain("activation_extra_probe"));
        Assert.That(NativeModules.Compile("activation", source, headers, "sm_80", Dir).Origin,
            Is.EqualTo(NativeModuleOrigin.NvrtcCache), "the original entry is still there");
    }

    [Test]
    public void EveryEmbeddedSourceCompilesThroughTheCachedPath()
    {
        RequireNvrtc();
        foreach (var name in NativeModules.EmbeddedSources())
        {
            var image = NativeModules.Compile(name, "sm_90", Dir);
            Assert.That(image.Image, Is.Not.Empty, name);
            Assert.That(image.Arch, Is.EqualTo("sm_90"));
        }
    }

    [Test]
    public void ABrokenSourceReportsTheCompilerLogAndCachesNothing()
    {
        RequireNvrtc();
        var e = Assert.Throws<NvrtcException>(() =>
            NativeModules.Compile("broken", "extern \"C\" __global__ void k(float* y) { y[0] = undefined_name; }",
                NativeModules.Headers(), "sm_80", Dir));
        Assert.That(e!.Log, Does.Contain("undefined_name"));
        Assert.That(Directory.GetFiles(Dir), Is.Empty);
    }

    [Test]
    public void PrebuiltChoice_ExactCubinFirst_ThenTheHighestPtxNotAboveTheArch()
    {
        File.WriteAllBytes(Path.Combine(Dir, "activation.sm_90.cubin"), [0x7F, (byte)'E', (byte)'L', (byte)'F', 1]);
        File.WriteAllText(Path.Combine(Dir, "activation.compute_80.ptx"), "// ptx 80");
        File.WriteAllText(Path.Combine(Dir, "activation.compute_86.ptx"), "// ptx 86");
        File.WriteAllText(Path.Combine(Dir, "activation.compute_90.ptx"), "// ptx 90");
        File.WriteAllText(Path.Combine(Dir, "elementwise.compute_75.ptx"), "// other family");
        string[] dirs = [Dir];

        var h100 = NativeModules.Prebuilt("activation", 9, 0, dirs).ToList();
        Assert.That(h100.Select(i => i.Origin), Is.EqualTo(new[] { NativeModuleOrigin.PrebuiltCubin, NativeModuleOrigin.PrebuiltPtx }));
        Assert.That(h100[0].Arch, Is.EqualTo("sm_90"));
        Assert.That(h100[1].Arch, Is.EqualTo("compute_90"));

        // sm_86: no exact cubin (an sm_90 cubin cannot run there); PTX 86 beats 80, 90 is too new.
        var a10 = NativeModules.Prebuilt("activation", 8, 6, dirs).ToList();
        Assert.That(a10, Has.Count.EqualTo(1));
        Assert.That(a10[0].Origin, Is.EqualTo(NativeModuleOrigin.PrebuiltPtx));
        Assert.That(Encoding.UTF8.GetString(a10[0].Image), Is.EqualTo("// ptx 86"));

        Assert.That(NativeModules.Prebuilt("activation", 7, 5, dirs), Is.Empty, "all PTX is too new for sm_75");
        Assert.That(NativeModules.Prebuilt("elementwise", 8, 0, dirs).Single().Arch, Is.EqualTo("compute_75"));
        Assert.That(NativeModules.Prebuilt("activation", 9, 0, [Path.Combine(Dir, "missing")]), Is.Empty);
    }

    [Test]
    public void DescribeNamesTheSourceThatWouldBeUsed()
    {
        var old = Environment.GetEnvironmentVariable(NativeModules.NativeDirVariable);
        try
        {
            Environment.SetEnvironmentVariable(NativeModules.NativeDirVariable, Dir);
            File.WriteAllText(Path.Combine(Dir, "activation.compute_80.ptx"), "// ptx 80");
            Assert.That(NativeModules.Describe("activation", 8, 6), Does.StartWith("prebuilt PTX").And.Contain("compute_80"));
            File.WriteAllBytes(Path.Combine(Dir, "activation.sm_86.cubin"), [0x7F, (byte)'E', (byte)'L', (byte)'F']);
            Assert.That(NativeModules.Describe("activation", 8, 6), Does.StartWith("prebuilt cubin").And.Contain("sm_86"));
            // A family with no prebuilt file at all falls to NVRTC (or says that nothing is there).
            Assert.That(NativeModules.Describe("no_such_family", 8, 6),
                Nvrtc.IsAvailable ? Does.StartWith("NVRTC").And.Contain("sm_86") : Does.StartWith("none"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(NativeModules.NativeDirVariable, old);
        }
    }

    [Test]
    public void NativeDirVariable_IsSearchedFirst_AndCacheDirVariableMovesTheCache()
    {
        var oldNative = Environment.GetEnvironmentVariable(NativeModules.NativeDirVariable);
        var oldCache = Environment.GetEnvironmentVariable(NativeModules.CacheDirVariable);
        try
        {
            Environment.SetEnvironmentVariable(NativeModules.NativeDirVariable, Dir);
            Assert.That(NativeModules.SearchDirectories()[0], Is.EqualTo(Dir));
            Directory.CreateDirectory(Path.Combine(Dir, "cuda"));
            Assert.That(NativeModules.SearchDirectories()[0], Is.EqualTo(Path.Combine(Dir, "cuda")),
                "a build/native folder is accepted too");
            Environment.SetEnvironmentVariable(NativeModules.CacheDirVariable, Dir);
            Assert.That(NativeModules.CacheDirectory(), Is.EqualTo(Path.Combine(Dir, "nvrtc")));
            Environment.SetEnvironmentVariable(NativeModules.CacheDirVariable, null);
            Assert.That(NativeModules.CacheDirectory(), Does.EndWith(Path.Combine("kernels", "nvrtc")));
        }
        finally
        {
            Environment.SetEnvironmentVariable(NativeModules.NativeDirVariable, oldNative);
            Environment.SetEnvironmentVariable(NativeModules.CacheDirVariable, oldCache);
        }
    }

    [Test]
    public void TheRepositoryBuild_HasCubinAndPtxWhereNvccWasPresent()
    {
        // build/native/cuda exists only after scripts/build-native.sh with nvcc; then (a) and (b)
        // must both be found for sm_80 and sm_90.
        var dir = NativeModules.SearchDirectories().FirstOrDefault(d => d.EndsWith(Path.Combine("build", "native", "cuda")));
        if (dir is null || !Directory.EnumerateFiles(dir, "*.ptx").Any())
            Assert.Ignore("no build/native/cuda with PTX here (scripts/build-native.sh ran without nvcc)");
        foreach (var name in new[] { "activation", "elementwise" })
        foreach (var (major, minor) in new[] { (8, 0), (9, 0) })
        {
            var found = NativeModules.Prebuilt(name, major, minor, [dir]).ToList();
            Assert.That(found.Select(f => f.Origin),
                Is.EqualTo(new[] { NativeModuleOrigin.PrebuiltCubin, NativeModuleOrigin.PrebuiltPtx }), $"{name} sm_{major}{minor}");
            Assert.That(IsElf(found[0].Image), $"{name}.sm_{major}{minor}.cubin is ELF");
            Assert.That(Encoding.UTF8.GetString(found[1].Image), Does.Contain($".target sm_{major}{minor}"));
        }
    }
}
