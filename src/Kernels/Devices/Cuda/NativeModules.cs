using System.Security.Cryptography;
using System.Text;
using Kernels.Bindings.Cuda;
using Kernels.Bindings.Nvrtc;

namespace Kernels;

/// <summary>Where the module image of a native/&lt;name&gt;.cu came from.</summary>
public enum NativeModuleOrigin
{
    /// <summary>(a) build/native/cuda/&lt;name&gt;.sm_XY.cubin for the device's exact arch.</summary>
    PrebuiltCubin,

    /// <summary>(b) build/native/cuda/&lt;name&gt;.compute_XY.ptx, the highest XY not above the device's.</summary>
    PrebuiltPtx,

    /// <summary>(c) compiled by NVRTC from the embedded source in this process.</summary>
    NvrtcCompiled,

    /// <summary>(c) NVRTC's output from an earlier run, read from the on-disk cache.</summary>
    NvrtcCache,
}

/// <summary>A module image ready for cuModuleLoadData: a cubin (ELF) or PTX text (NUL-terminated
/// by the loader). <see cref="Detail"/> is the file it came from, or the NVRTC cache file.</summary>
public sealed record NativeModuleImage(string Name, string Arch, NativeModuleOrigin Origin, bool IsCubin, byte[] Image,
    string Detail)
{
    public override string ToString() =>
        $"native:{Name} for {Arch}: {Origin switch
        {
            NativeModuleOrigin.PrebuiltCubin => "prebuilt cubin",
            NativeModuleOrigin.PrebuiltPtx => "prebuilt PTX",
            NativeModuleOrigin.NvrtcCompiled => IsCubin ? "NVRTC cubin (compiled now)" : "NVRTC PTX (compiled now)",
            _ => IsCubin ? "NVRTC cubin (cache)" : "NVRTC PTX (cache)",
        }} {Detail}";
}

/// <summary>Functions of one native module on one device, each looked up once: a launch then
/// costs an array read (no string key, no lock). Held by a kernel implementation, which exists
/// once per device.</summary>
public sealed class NativeFunctions(CudaDevice device, string module, params string[] kernels)
{
    private readonly CudaFunction[] _loaded = new CudaFunction[kernels.Length];

    public CudaDevice Device => device;

    /// <summary>The function named kernels[<paramref name="index"/>], loading the module on first use.</summary>
    public CudaFunction this[int index]
    {
        get
        {
            var f = _loaded[index];
            if (f.Handle != 0) return f;
            // Racing first calls both get the same function from the device's module cache.
            return _loaded[index] = NativeModules.Function(device, module, kernels[index]);
        }
    }
}

/// <summary>The modules of the hand-written kernels (native/*.cu) for the cuda device, found in
/// this order: (a) a prebuilt cubin for the device's exact arch, (b) prebuilt PTX of the highest
/// compute_XY not above it, (c) the source embedded in this assembly, compiled by NVRTC for the
/// device's arch and cached on disk. Prebuilt files are looked for in $KERNELS_NATIVE_DIR (the
/// folder holding the files, or a build/native folder with a cuda/ subfolder), then in
/// build/native/cuda/ of the nearest ancestor folder of the app (the way EmuNative finds
/// libkernels_emu.so). A prebuilt image the driver refuses is skipped (the reason is kept) and the
/// next source tried. NVRTC output is cached under $KERNELS_CACHE_DIR/nvrtc (else
/// ~/.cache/kernels/nvrtc), keyed by SHA-256 of the source, the headers, the arch, the options and
/// NVRTC's version; files are written atomically and checked on read (a bad one is recompiled).</summary>
public static class NativeModules
{
    public const string NativeDirVariable = "KERNELS_NATIVE_DIR";
    public const string CacheDirVariable = "KERNELS_CACHE_DIR";

    /// <summary>The block size of every 1-D grid-stride launch wrapper in native/*.cu.</summary>
    public const uint Block = 256;

    /// <summary>KERNELS_MAX_BLOCKS under nvcc (native/include/kernels/emu.h).</summary>
    public const uint MaxBlocks = 4096;

    private const string ResourcePrefix = "native/";
    private static readonly byte[] s_cacheMagic = "KNVRTC01"u8.ToArray();
    private static readonly Lock s_logGate = new();
    private static readonly List<string> s_log = [];
    private static long s_nvrtcCompiles;

    /// <summary>kernels_grid_for of emu.h: enough blocks of <paramref name="block"/> for n, capped.</summary>
    public static uint GridFor(long n, uint block = Block)
    {
        long blocks = (n + block - 1) / block;
        if (blocks < 1) blocks = 1;
        return blocks > MaxBlocks ? MaxBlocks : (uint)blocks;
    }

    /// <summary>One line per module loaded in this process: which source (a, b, c) gave it.</summary>
    public static IReadOnlyList<string> LoadLog
    {
        get { lock (s_logGate) return [.. s_log]; }
    }

    /// <summary>NVRTC compiles run by this process (a cache hit adds nothing).</summary>
    public static long NvrtcCompiles => Interlocked.Read(ref s_nvrtcCompiles);

    /// <summary>Function <paramref name="kernel"/> of native/<paramref name="name"/>.cu on the device,
    /// the module loaded once per device.</summary>
    public static CudaFunction Function(CudaDevice device, string name, string kernel) =>
        device.Modules.Function("native:" + name, kernel, () => Load(device, name));

    /// <summary>Loads native/<paramref name="name"/>.cu's module into the device's context (use
    /// <see cref="Function"/> or device.Modules.GetOrLoad("native:" + name, ...) to load it once).</summary>
    public static CudaModule Load(CudaDevice device, string name)
    {
        device.MakeCurrent();
        var (major, minor) = device.ComputeCapability;
        var refused = new List<string>();
        foreach (var image in Prebuilt(name, major, minor))
        {
            try
            {
                var module = CudaModule.LoadImage(image.Image);
                Record(image, device.Name);
                return module;
            }
            catch (CudaException e)
            {
                // A stale or foreign file must not stop the device: note it and try the next source.
                refused.Add($"{image.Detail}: {e.Message}");
            }
        }
        if (!Nvrtc.IsAvailable)
            throw new InvalidOperationException(
                $"{device.Name}: no module for native/{name}.cu (sm_{major}{minor}): no usable prebuilt cubin/PTX " +
                $"(looked in {string.Join(", ", SearchDirectories())}{(refused.Count > 0 ? "; refused: " + string.Join("; ", refused) : "")}) " +
                $"and NVRTC is unavailable: {Nvrtc.Reason}. Run scripts/build-native.sh with nvcc installed, or set {NativeDirVariable}.");
        var compiled = Compile(name, $"sm_{major}{minor}", CacheDirectory());
        var loaded = CudaModule.LoadImage(compiled.Image);
        Record(compiled, device.Name, refused);
        return loaded;
    }

    /// <summary>Which source <see cref="Load"/> would try first for native/<paramref name="name"/>.cu
    /// on a GPU of compute capability major.minor, without a GPU (for `kernels info`).</summary>
    public static string Describe(string name, int major, int minor)
    {
        var first = Prebuilt(name, major, minor).FirstOrDefault();
        if (first is not null)
            return $"{(first.Origin == NativeModuleOrigin.PrebuiltCubin ? "prebuilt cubin" : "prebuilt PTX")} {first.Detail}";
        return Nvrtc.IsAvailable
            ? $"NVRTC {Nvrtc.Version.Major}.{Nvrtc.Version.Minor} for sm_{major}{minor}, cached in {CacheDirectory()}"
            : $"none: no prebuilt cubin/PTX and NVRTC is unavailable ({Nvrtc.Reason})";
    }

    private static void Record(NativeModuleImage image, string device, List<string>? refused = null)
    {
        string line = $"{device} {image}" + (refused is { Count: > 0 } ? $" (refused: {string.Join("; ", refused)})" : "");
        lock (s_logGate) s_log.Add(line);
    }

    // ---- (a) and (b): prebuilt files --------------------------------------------------------------

    /// <summary>Folders searched for prebuilt cubin/PTX, in order.</summary>
    public static IReadOnlyList<string> SearchDirectories()
    {
        var list = new List<string>();
        var env = Environment.GetEnvironmentVariable(NativeDirVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            // Either the folder of the files or build/native itself.
            var cuda = Path.Combine(env, "cuda");
            list.Add(Directory.Exists(cuda) ? cuda : env);
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "build", "native", "cuda");
            if (Directory.Exists(candidate))
            {
                list.Add(candidate);
                break;
            }
        }
        return list;
    }

    /// <summary>The prebuilt images for a device of compute capability major.minor, best first:
    /// the exact-arch cubin, then PTX of the highest compute_XY not above the device's arch, from
    /// <paramref name="directories"/> (default <see cref="SearchDirectories"/>).</summary>
    public static IEnumerable<NativeModuleImage> Prebuilt(string name, int major, int minor,
        IReadOnlyList<string>? directories = null)
    {
        int arch = major * 10 + minor;
        foreach (var dir in directories ?? SearchDirectories())
        {
            var cubin = Path.Combine(dir, $"{name}.sm_{arch}.cubin");
            if (File.Exists(cubin))
                yield return new NativeModuleImage(name, $"sm_{arch}", NativeModuleOrigin.PrebuiltCubin, true,
                    File.ReadAllBytes(cubin), cubin);
            var best = BestPtx(dir, name, arch);
            if (best is not null)
                yield return new NativeModuleImage(name, $"compute_{best.Value.Arch}", NativeModuleOrigin.PrebuiltPtx, false,
                    File.ReadAllBytes(best.Value.Path), best.Value.Path);
        }
    }

    private static (int Arch, string Path)? BestPtx(string dir, string name, int arch)
    {
        if (!Directory.Exists(dir)) return null;
        (int Arch, string Path)? best = null;
        string prefix = name + ".compute_";
        foreach (var path in Directory.EnumerateFiles(dir, $"{name}.compute_*.ptx"))
        {
            var file = Path.GetFileName(path);
            var digits = file[prefix.Length..^".ptx".Length];
            if (!int.TryParse(digits, System.Globalization.NumberStyles.None, null, out int a)) continue;
            if (a <= arch && (best is null || a > best.Value.Arch)) best = (a, path);
        }
        return best;
    }

    // ---- (c): NVRTC from the embedded sources -----------------------------------------------------

    /// <summary>The NVRTC cache folder: $KERNELS_CACHE_DIR/nvrtc, else ~/.cache/kernels/nvrtc
    /// (the temp folder when there is no home).</summary>
    public static string CacheDirectory()
    {
        var env = Environment.GetEnvironmentVariable(CacheDirVariable);
        if (!string.IsNullOrWhiteSpace(env)) return Path.Combine(env, "nvrtc");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var root = string.IsNullOrEmpty(home) ? Path.GetTempPath() : Path.Combine(home, ".cache");
        return Path.Combine(root, "kernels", "nvrtc");
    }

    /// <summary>native/<paramref name="name"/>.cu as embedded in this assembly.</summary>
    public static string Source(string name) =>
        ReadResource($"{ResourcePrefix}{name}.cu")
        ?? throw new ArgumentException($"no embedded native source native/{name}.cu; embedded: {string.Join(", ", EmbeddedSources())}", nameof(name));

    /// <summary>Names (without .cu) of the embedded native sources.</summary>
    public static IReadOnlyList<string> EmbeddedSources() =>
        [.. typeof(NativeModules).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".cu", StringComparison.Ordinal)
                        && n.IndexOf('/', ResourcePrefix.Length) < 0)
            .Select(n => n[ResourcePrefix.Length..^3])
            .Order(StringComparer.Ordinal)];

    /// <summary>The embedded headers, as (path under native/include, text), sorted by path.</summary>
    public static IReadOnlyList<(string Path, string Text)> Headers()
    {
        const string prefix = ResourcePrefix + "include/";
        return [.. typeof(NativeModules).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(n => (n[prefix.Length..], ReadResource(n)!))];
    }

    private static string? ReadResource(string name)
    {
        using var s = typeof(NativeModules).Assembly.GetManifestResourceStream(name);
        if (s is null) return null;
        using var r = new StreamReader(s, Encoding.UTF8);
        return r.ReadToEnd();
    }

    /// <summary>The options every NVRTC compile of a native source uses (part of the cache key).</summary>
    public static NvrtcOptions Options(string arch) => new(arch) { Std = "c++17" };

    /// <summary>Cache key: SHA-256 (hex) over the source, every header (path and text), the arch,
    /// the options and NVRTC's version.</summary>
    public static string CacheKey(string source, IReadOnlyList<(string Path, string Text)> headers, string arch,
        (int Major, int Minor) nvrtcVersion)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string s)
        {
            // Length-prefixed, so no two different inputs concatenate to the same bytes.
            var bytes = Encoding.UTF8.GetBytes(s);
            h.AppendData(BitConverter.GetBytes((long)bytes.Length));
            h.AppendData(bytes);
        }
        Add(source);
        foreach (var (path, text) in headers)
        {
            Add(path);
            Add(text);
        }
        Add(arch);
        Add(string.Join(' ', Options(arch).ToArguments()));
        Add($"nvrtc {nvrtcVersion.Major}.{nvrtcVersion.Minor}");
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>The embedded native/<paramref name="name"/>.cu compiled for <paramref name="arch"/>
    /// (sm_XY gives a cubin where NVRTC can, else PTX), from the cache in
    /// <paramref name="cacheDirectory"/> when a valid entry is there.</summary>
    public static NativeModuleImage Compile(string name, string arch, string cacheDirectory) =>
        Compile(name, Source(name), Headers(), arch, cacheDirectory);

    /// <summary>As <see cref="Compile(string, string, string)"/> with the source and headers given.</summary>
    public static NativeModuleImage Compile(string name, string source, IReadOnlyList<(string Path, string Text)> headers,
        string arch, string cacheDirectory)
    {
        var key = CacheKey(source, headers, arch, Nvrtc.Version);
        var path = CachePath(cacheDirectory, name, arch, key);
        if (TryReadCache(path, out bool isCubin, out var image))
            return new NativeModuleImage(name, arch, NativeModuleOrigin.NvrtcCache, isCubin, image, path);

        var result = CompileNow(name, source, headers, arch);
        isCubin = result.Cubin is not null;
        image = result.Cubin ?? Encoding.UTF8.GetBytes(result.Ptx!);
        string detail = path;
        try
        {
            WriteCache(path, isCubin, image);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only home must not stop the device; the next run compiles again.
            detail = $"(not cached: {e.Message})";
        }
        return new NativeModuleImage(name, arch, NativeModuleOrigin.NvrtcCompiled, isCubin, image, detail);
    }

    /// <summary>The cache file of one (name, arch, key).</summary>
    public static string CachePath(string cacheDirectory, string name, string arch, string key) =>
        Path.Combine(cacheDirectory, $"{name}.{arch}.{key}.bin");

    private static NvrtcResult CompileNow(string name, string source, IReadOnlyList<(string Path, string Text)> headers,
        string arch)
    {
        // NVRTC finds headers through include paths: write them to a private temp folder.
        var include = Directory.CreateTempSubdirectory("kernels-nvrtc-");
        try
        {
            foreach (var (rel, text) in headers)
            {
                var file = Path.Combine(include.FullName, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                File.WriteAllText(file, text);
            }
            Interlocked.Increment(ref s_nvrtcCompiles);
            return Nvrtc.Compile(source, name + ".cu", Options(arch) with { IncludePaths = [include.FullName] });
        }
        finally
        {
            try
            {
                include.Delete(true);
            }
            catch (IOException)
            {
                // Leftover temp files are harmless.
            }
        }
    }

    // Cache file: magic (8) | kind (1: 1 cubin, 0 PTX) | SHA-256 of the payload (32) | payload.
    private const int HeaderBytes = 8 + 1 + 32;

    private static bool TryReadCache(string path, out bool isCubin, out byte[] image)
    {
        isCubin = false;
        image = [];
        byte[] bytes;
        try
        {
            if (!File.Exists(path)) return false;
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        if (bytes.Length <= HeaderBytes || !bytes.AsSpan(0, 8).SequenceEqual(s_cacheMagic) || bytes[8] > 1)
            return false;
        var payload = bytes.AsSpan(HeaderBytes);
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(bytes.AsSpan(9, 32))) return false;
        isCubin = bytes[8] == 1;
        image = payload.ToArray();
        return true;
    }

    private static void WriteCache(string path, bool isCubin, byte[] image)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = new byte[HeaderBytes + image.Length];
        s_cacheMagic.CopyTo(bytes, 0);
        bytes[8] = isCubin ? (byte)1 : (byte)0;
        SHA256.HashData(image).CopyTo(bytes, 9);
        image.CopyTo(bytes, HeaderBytes);
        // Temp file + rename: a reader sees the old file or the whole new one, never a part.
        var tmp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
