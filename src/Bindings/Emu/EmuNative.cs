using System.Reflection;
using System.Runtime.InteropServices;

namespace Kernels.Bindings.Emu;

/// <summary>A hand-written kernel could not be launched (bad geometry, too much shared memory, an
/// exception inside the emulator). The message names the kernel.</summary>
public sealed class KernelLaunchException(string message) : Exception(message);

/// <summary>P/Invoke into libkernels_emu.so: native/*.cu compiled as host C++ against
/// native/include/kernels/emu.h (scripts/build-native.sh builds it). Found through, in order,
/// the KERNELS_EMU_LIB environment variable (the file or its folder), build/native/ in the
/// nearest ancestor folder of the app, and the app folder. Every entry point returns 0 or a CUDA
/// error number; <see cref="Check"/> turns that into an exception. The stream argument is
/// ignored by the emulator (launches are synchronous).</summary>
public static unsafe partial class EmuNative
{
    public const string EnvironmentVariable = "KERNELS_EMU_LIB";
    private const string Lib = "kernels_emu";

    public static readonly string FileName = OperatingSystem.IsWindows() ? "kernels_emu.dll"
        : OperatingSystem.IsMacOS() ? "libkernels_emu.dylib" : "libkernels_emu.so";

    private static readonly Lazy<(nint Handle, string Path, string Reason)> s_library = new(Load);

    static EmuNative()
    {
        // The resolver answers only for this library; every other name falls back to the default
        // probing (a later binding in this assembly must extend this one, as only one is allowed).
        NativeLibrary.SetDllImportResolver(typeof(EmuNative).Assembly, Resolve);
    }

    /// <summary>True when the library was found and loaded.</summary>
    public static bool IsAvailable => s_library.Value.Handle != 0;

    /// <summary>Why the library is not usable ("" when it is).</summary>
    public static string Reason => s_library.Value.Reason;

    /// <summary>The file that was loaded ("" when none).</summary>
    public static string LoadedPath => s_library.Value.Path;

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return 0;
        var lib = s_library.Value;
        if (lib.Handle == 0) throw new DllNotFoundException(lib.Reason);
        return lib.Handle;
    }

    /// <summary>Candidate paths, in lookup order.</summary>
    public static IReadOnlyList<string> Candidates()
    {
        var list = new List<string>();
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
            list.Add(Directory.Exists(env) ? Path.Combine(env, FileName) : env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "build", "native", FileName);
            if (File.Exists(candidate))
            {
                list.Add(candidate);
                break;
            }
        }
        list.Add(Path.Combine(AppContext.BaseDirectory, FileName));
        return list;
    }

    private static (nint, string, string) Load()
    {
        var tried = new List<string>();
        foreach (var path in Candidates())
        {
            if (!File.Exists(path))
            {
                tried.Add($"{path} (missing)");
                continue;
            }
            if (!NativeLibrary.TryLoad(path, out var handle))
            {
                tried.Add($"{path} (failed to load)");
                continue;
            }
            if (!NativeLibrary.TryGetExport(handle, "kernels_emu_last_error", out _))
            {
                tried.Add($"{path} (not the emulation library: no kernels_emu_last_error)");
                continue;
            }
            return (handle, path, "");
        }
        return (0, "", $"the emulated kernel library {FileName} was not found; looked in: {string.Join("; ", tried)} " +
                       $"(searched upwards from {AppContext.BaseDirectory} for build/native/, and ${EnvironmentVariable}). " +
                       "Run scripts/build-native.sh");
    }

    /// <summary>Throws <see cref="KernelLaunchException"/> naming <paramref name="kernel"/> when
    /// <paramref name="rc"/> is not 0.</summary>
    public static void Check(int rc, string kernel)
    {
        if (rc == 0) return;
        string detail = Marshal.PtrToStringUTF8(LastError()) ?? "";
        string what = rc switch
        {
            9 => "invalid launch configuration",
            719 => "the kernel failed",
            _ => "launch failed",
        };
        throw new KernelLaunchException(
            $"kernel {kernel}: {what} (CUDA error {rc}){(detail.Length > 0 ? ": " + detail : "")}");
    }

    [LibraryImport(Lib, EntryPoint = "kernels_emu_last_error")]
    private static partial nint LastError();

    // Activation (native/activation.cu). kind: Relu 0, LeakyRelu 1, Gelu 2, Sigmoid 3, Tanh 4.
    [LibraryImport(Lib, EntryPoint = "kernels_activation_forward_f32")]
    public static partial int ActivationForwardF32(int kind, float alpha, float* x, float* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_activation_backward_f32")]
    public static partial int ActivationBackwardF32(int kind, float alpha, float* x, float* y, float* dy, float* dx,
        long n, nint stream);

    // Elementwise (native/elementwise.cu): y = alpha·x + beta·y; same-shape y = a + b, y = a · b;
    // broadcast binary, unary, scalar ops (op numbers of Kernels.Ops.Elementwise's enums), the
    // sum that undoes a broadcast, word fills and copies, casts.
    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_axpby_f32")]
    public static partial int AxpbyF32(float alpha, float* x, float beta, float* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_add_f32")]
    public static partial int AddF32(float* a, float* b, float* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_mul_f32")]
    public static partial int MulF32(float* a, float* b, float* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_binary_f32")]
    public static partial int BinaryF32(int op, int rank, long* dims, long* strideA, long* strideB, float* a, float* b,
        float* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_unary_f32")]
    public static partial int UnaryF32(int op, float* x, float* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_scalar_f32")]
    public static partial int ScalarF32(int op, float s, float* x, float* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_sum_to_shape_f32")]
    public static partial int SumToShapeF32(int keptRank, long* keptDims, long* keptStride, int reducedRank,
        long* reducedDims, long* reducedStride, float* x, float* y, long outputLength, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_fill_u32")]
    public static partial int FillU32(uint value, uint* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_fill_u64")]
    public static partial int FillU64(ulong value, ulong* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_copy_u32")]
    public static partial int CopyU32(uint* x, uint* y, long n, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_copy_u64")]
    public static partial int CopyU64(ulong* x, ulong* y, long n, nint stream);

    /// <summary>which: 0 f32→f64, 1 f64→f32, 2 i32→f32, 3 i32→f64.</summary>
    [LibraryImport(Lib, EntryPoint = "kernels_elementwise_cast")]
    public static partial int Cast(int which, void* x, void* y, long n, nint stream);

    // Emulator self-test kernels (native/emu_selftest.cu); the caller chooses the geometry.
    [LibraryImport(Lib, EntryPoint = "kernels_selftest_block_sum")]
    public static partial int SelftestBlockSum(float* x, float* blockOut, long n, uint grid, uint block, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_selftest_warp_sum")]
    public static partial int SelftestWarpSum(float* x, float* warpOut, float* threadOut, long n, uint grid,
        uint block, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_selftest_vote")]
    public static partial int SelftestVote(float* x, uint* ballotOut, int* anyOut, int* allOut, long n, uint grid,
        uint block, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_selftest_atomics")]
    public static partial int SelftestAtomics(float* x, long n, float* sum, int* positives, int* intMax,
        float* floatMax, uint grid, uint block, nint stream);

    [LibraryImport(Lib, EntryPoint = "kernels_selftest_reverse")]
    public static partial int SelftestReverse(float* x, float* output, long n, uint grid, uint blockX, uint blockY,
        nint stream);
}
