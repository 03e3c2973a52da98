using System.Text;

namespace Kernels.Bindings.Cuda;

/// <summary>A kernel entry point of a loaded module (owned by the module: valid while it is).</summary>
public readonly unsafe record struct CudaFunction(nint Handle, string Name)
{
    public int GetAttribute(CudaFunctionAttribute attribute)
    {
        int v;
        CudaDriver.Check(CudaDriver.Api.FuncGetAttribute(&v, (int)attribute, Handle), "cuFuncGetAttribute");
        return v;
    }

    public int Registers => GetAttribute(CudaFunctionAttribute.NumRegisters);

    public int StaticSharedBytes => GetAttribute(CudaFunctionAttribute.SharedSizeBytes);

    public int MaxThreadsPerBlock => GetAttribute(CudaFunctionAttribute.MaxThreadsPerBlock);
}

/// <summary>A module loaded from a PTX or cubin image into the current context.</summary>
public sealed unsafe class CudaModule : CudaHandle
{
    private const int JitInfoLogBuffer = 3, JitInfoLogBufferSize = 4, JitErrorLogBuffer = 5, JitErrorLogBufferSize = 6;
    private const int LogBytes = 16 * 1024;

    /// <summary>What the JIT said on success (PTX only; often empty).</summary>
    public string InfoLog { get; }

    private CudaModule(nint module, nint ctx, string infoLog) : base(module, ctx) => InfoLog = infoLog;

    /// <summary>Loads PTX text (NUL-terminated here if it is not already).</summary>
    public static CudaModule LoadPtx(string ptx) => LoadImage(Encoding.UTF8.GetBytes(ptx + "\0"));

    /// <summary>Loads a PTX (NUL-terminated) or cubin/fatbin image. On failure the exception
    /// carries the JIT's error log.</summary>
    public static CudaModule LoadImage(ReadOnlySpan<byte> image)
    {
        if (image.IsEmpty) throw new ArgumentException("CudaModule.LoadImage: the image is empty", nameof(image));
        var ctx = CurrentContext();
        // The image must be NUL-terminated when it is PTX text; a cubin starts with the ELF magic.
        bool isElf = image.Length >= 4 && image[0] == 0x7F && image[1] == (byte)'E' && image[2] == (byte)'L' && image[3] == (byte)'F';
        byte[]? copy = null;
        if (!isElf && image[^1] != 0)
        {
            copy = new byte[image.Length + 1];
            image.CopyTo(copy);
            image = copy;
        }
        byte* errorLog = stackalloc byte[LogBytes];
        byte* infoLog = stackalloc byte[LogBytes];
        errorLog[0] = 0;
        infoLog[0] = 0;
        int* options = stackalloc int[4] { JitErrorLogBuffer, JitErrorLogBufferSize, JitInfoLogBuffer, JitInfoLogBufferSize };
        // Sizes travel as pointer-sized integers in the value array (the JIT API's convention).
        void** values = stackalloc void*[4] { errorLog, (void*)(nint)LogBytes, infoLog, (void*)(nint)LogBytes };
        nint module;
        int rc;
        fixed (byte* p = image) rc = CudaDriver.Api.ModuleLoadDataEx(&module, p, 4, options, values);
        string Log(byte* b) => Encoding.UTF8.GetString(new ReadOnlySpan<byte>(b, LogBytes).SliceToNul()).Trim();
        if (rc != 0)
        {
            var log = Log(errorLog);
            throw new CudaException("cuModuleLoadDataEx", rc,
                CudaDriver.Message("cuModuleLoadDataEx", rc) + (log.Length > 0 ? $"\nJIT log:\n{log}" : " (the JIT wrote no log)"));
        }
        return new CudaModule(module, ctx, Log(infoLog));
    }

    public CudaFunction GetFunction(string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        nint fn;
        int rc;
        fixed (byte* p = bytes) rc = CudaDriver.Api.ModuleGetFunction(&fn, handle, p);
        if (rc != 0) throw new CudaException("cuModuleGetFunction", rc, $"{CudaDriver.Message("cuModuleGetFunction", rc)} (kernel '{name}')");
        return new CudaFunction(fn, name);
    }

    protected override bool ReleaseHandle() => ReleaseIn("cuModuleUnload", h => CudaDriver.Api.ModuleUnload(h));
}

internal static class SpanNul
{
    public static ReadOnlySpan<byte> SliceToNul(this ReadOnlySpan<byte> s)
    {
        int i = s.IndexOf((byte)0);
        return i < 0 ? s : s[..i];
    }
}
