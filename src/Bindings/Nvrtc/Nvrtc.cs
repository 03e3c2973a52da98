using System.Runtime.InteropServices;
using System.Text;
using Kernels.Bindings.Cuda;

namespace Kernels.Bindings.Nvrtc;

/// <summary>NVRTC failed. <see cref="Log"/> is the compiler's log (also in the message).</summary>
public sealed class NvrtcException(string call, int code, string message, string log) : Exception(message)
{
    public string Call { get; } = call;

    /// <summary>The nvrtcResult (0 is success).</summary>
    public int Code { get; } = code;

    public string Log { get; } = log;
}

/// <summary>Compile options. <see cref="Arch"/> is a virtual architecture ("compute_90": PTX
/// only) or a real one ("sm_90": PTX and, where NVRTC supports nvrtcGetCUBIN, a cubin).</summary>
public sealed record NvrtcOptions(string Arch)
{
    /// <summary>-std value; null leaves NVRTC's default.</summary>
    public string? Std { get; init; } = "c++17";

    public IReadOnlyList<string> IncludePaths { get; init; } = [];

    /// <summary>-D definitions, "NAME" or "NAME=value".</summary>
    public IReadOnlyList<string> Defines { get; init; } = [];

    /// <summary>Any other NVRTC option, passed as is (e.g. "-lineinfo", "--use_fast_math").</summary>
    public IReadOnlyList<string> Extra { get; init; } = [];

    /// <summary>The option strings given to nvrtcCompileProgram.</summary>
    public IReadOnlyList<string> ToArguments()
    {
        if (string.IsNullOrWhiteSpace(Arch)) throw new ArgumentException("NvrtcOptions: Arch is empty (e.g. compute_90 or sm_90)", nameof(Arch));
        var list = new List<string> { $"--gpu-architecture={Arch}" };
        if (Std is not null) list.Add($"--std={Std}");
        foreach (var inc in IncludePaths) list.Add($"--include-path={inc}");
        foreach (var d in Defines) list.Add($"--define-macro={d}");
        list.AddRange(Extra);
        return list;
    }
}

/// <summary>What a compile produced. <see cref="Cubin"/> is null for a virtual architecture or an
/// NVRTC without nvrtcGetCUBIN; <see cref="Ptx"/> is null when NVRTC keeps no PTX for a real
/// architecture (newer versions).</summary>
public sealed record NvrtcResult(string? Ptx, byte[]? Cubin, string Log);

/// <summary>Thin binding of NVRTC (runtime compilation of CUDA C++), through function pointers
/// resolved from the first library name that loads. Nothing throws until a compile is asked.</summary>
public static unsafe class Nvrtc
{
    public static readonly VersionedLibrary Library = new("NVRTC (libnvrtc)",
        OperatingSystem.IsWindows()
            ? ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"]
            : ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"]);

    private sealed class Api
    {
        public readonly delegate* unmanaged<int*, int*, int> Version;
        public readonly delegate* unmanaged<int, byte*> GetErrorString;
        public readonly delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int> CreateProgram;
        public readonly delegate* unmanaged<nint*, int> DestroyProgram;
        public readonly delegate* unmanaged<nint, int, byte**, int> CompileProgram;
        public readonly delegate* unmanaged<nint, nuint*, int> GetPtxSize;
        public readonly delegate* unmanaged<nint, byte*, int> GetPtx;
        public readonly delegate* unmanaged<nint, nuint*, int> GetCubinSize;
        public readonly delegate* unmanaged<nint, byte*, int> GetCubin;
        public readonly delegate* unmanaged<nint, nuint*, int> GetLogSize;
        public readonly delegate* unmanaged<nint, byte*, int> GetLog;

        public Api(VersionedLibrary lib)
        {
            Version = (delegate* unmanaged<int*, int*, int>)lib.Export("nvrtcVersion");
            GetErrorString = (delegate* unmanaged<int, byte*>)lib.Export("nvrtcGetErrorString");
            CreateProgram = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int>)lib.Export("nvrtcCreateProgram");
            DestroyProgram = (delegate* unmanaged<nint*, int>)lib.Export("nvrtcDestroyProgram");
            CompileProgram = (delegate* unmanaged<nint, int, byte**, int>)lib.Export("nvrtcCompileProgram");
            GetPtxSize = (delegate* unmanaged<nint, nuint*, int>)lib.Export("nvrtcGetPTXSize");
            GetPtx = (delegate* unmanaged<nint, byte*, int>)lib.Export("nvrtcGetPTX");
            // Since NVRTC 11.1; absent before.
            GetCubinSize = (delegate* unmanaged<nint, nuint*, int>)lib.TryExport("nvrtcGetCUBINSize");
            GetCubin = (delegate* unmanaged<nint, byte*, int>)lib.TryExport("nvrtcGetCUBIN");
            GetLogSize = (delegate* unmanaged<nint, nuint*, int>)lib.Export("nvrtcGetProgramLogSize");
            GetLog = (delegate* unmanaged<nint, byte*, int>)lib.Export("nvrtcGetProgramLog");
        }
    }

    private static readonly Lazy<(Api? Api, string Reason)> s_api = new(() =>
    {
        if (!Library.IsLoaded) return (null, Library.Reason);
        try
        {
            return (new Api(Library), "");
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, $"NVRTC library is incomplete: {e.Message}");
        }
    });

    public static bool IsAvailable => s_api.Value.Api is not null;

    /// <summary>Why NVRTC is unusable ("" when it is), listing every library name tried.</summary>
    public static string Reason => s_api.Value.Reason;

    private static Api Functions => s_api.Value.Api ?? throw new NvrtcException("load", -1, $"NVRTC is unavailable: {Reason}", "");

    /// <summary>NVRTC's (major, minor) version.</summary>
    public static (int Major, int Minor) Version
    {
        get
        {
            int major, minor;
            Check(Functions.Version(&major, &minor), "nvrtcVersion", "");
            return (major, minor);
        }
    }

    /// <summary>True when this NVRTC can return cubins (nvrtcGetCUBIN).</summary>
    public static bool SupportsCubin => Functions.GetCubin != null && Functions.GetCubinSize != null;

    public static string ErrorString(int code)
    {
        var p = Functions.GetErrorString(code);
        return p == null ? $"NVRTC error {code}" : Marshal.PtrToStringUTF8((nint)p) ?? $"NVRTC error {code}";
    }

    /// <summary>Compiles one translation unit. <paramref name="name"/> appears in the log's
    /// messages (use the file name). Headers are found through the include paths of the options.
    /// Throws <see cref="NvrtcException"/> with the compiler log when compilation fails.</summary>
    public static NvrtcResult Compile(string source, string name, NvrtcOptions options)
    {
        ArgumentNullException.ThrowIfNull(source);
        var api = Functions;
        var args = options.ToArguments();
        // One UTF-8 block holds the source, the name and every option, NUL-terminated, pinned once.
        var offsets = new int[args.Count + 2];
        var buffer = new List<byte>();
        void Append(string s, int slot)
        {
            offsets[slot] = buffer.Count;
            buffer.AddRange(Encoding.UTF8.GetBytes(s));
            buffer.Add(0);
        }
        Append(source, 0);
        Append(name, 1);
        for (int i = 0; i < args.Count; i++) Append(args[i], i + 2);
        var bytes = buffer.ToArray();
        fixed (byte* b = bytes)
        {
            nint prog;
            Check(api.CreateProgram(&prog, b + offsets[0], b + offsets[1], 0, null, null), "nvrtcCreateProgram", "");
            try
            {
                var optionPtrs = new nint[args.Count];
                for (int i = 0; i < args.Count; i++) optionPtrs[i] = (nint)(b + offsets[i + 2]);
                int rc;
                fixed (nint* o = optionPtrs) rc = api.CompileProgram(prog, args.Count, (byte**)o);
                var log = ReadLog(api, prog);
                if (rc != 0)
                    throw new NvrtcException("nvrtcCompileProgram", rc,
                        $"NVRTC could not compile {name} ({string.Join(' ', args)}): {ErrorString(rc)}\n{log}", log);
                string? ptx = null;
                nuint size;
                if (api.GetPtxSize(prog, &size) == 0 && size > 1)
                {
                    var ptxBytes = new byte[(int)size];
                    fixed (byte* p = ptxBytes) Check(api.GetPtx(prog, p), "nvrtcGetPTX", log);
                    ptx = Encoding.UTF8.GetString(ptxBytes, 0, (int)size - 1);
                }
                byte[]? cubin = null;
                if (options.Arch.StartsWith("sm_", StringComparison.Ordinal) && api.GetCubinSize != null
                    && api.GetCubinSize(prog, &size) == 0 && size > 0)
                {
                    cubin = new byte[(int)size];
                    fixed (byte* p = cubin) Check(api.GetCubin(prog, p), "nvrtcGetCUBIN", log);
                }
                if (ptx is null && cubin is null)
                    throw new NvrtcException("nvrtcGetPTX", -1, $"NVRTC compiled {name} for {options.Arch} but returned neither PTX nor cubin", log);
                return new NvrtcResult(ptx, cubin, log);
            }
            finally
            {
                api.DestroyProgram(&prog);
            }
        }
    }

    /// <summary>Reads a .cu file and compiles it, adding the file's folder to the include paths.</summary>
    public static NvrtcResult CompileFile(string path, NvrtcOptions options)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return Compile(File.ReadAllText(path), Path.GetFileName(path),
            options with { IncludePaths = [.. options.IncludePaths, dir] });
    }

    private static string ReadLog(Api api, nint prog)
    {
        nuint size;
        if (api.GetLogSize(prog, &size) != 0 || size <= 1) return "";
        var log = new byte[(int)size];
        fixed (byte* p = log)
            if (api.GetLog(prog, p) != 0) return "";
        return Encoding.UTF8.GetString(log, 0, (int)size - 1).Trim();
    }

    private static void Check(int rc, string call, string log)
    {
        if (rc != 0) throw new NvrtcException(call, rc, $"{call} failed: {ErrorString(rc)} ({rc})", log);
    }
}
