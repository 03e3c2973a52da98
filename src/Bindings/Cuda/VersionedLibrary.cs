using System.Runtime.InteropServices;

namespace Kernels.Bindings.Cuda;

/// <summary>A native library found by trying versioned file names in order (first that loads
/// wins). Never throws while loading: a failure is kept in <see cref="Reason"/>, which lists every
/// name tried, so callers can report "unavailable" at startup and throw only when used.</summary>
public sealed class VersionedLibrary
{
    private readonly Lazy<(nint Handle, string Name, string Reason)> _load;

    public VersionedLibrary(string displayName, IReadOnlyList<string> names)
    {
        DisplayName = displayName;
        Names = names;
        _load = new(Load);
    }

    public string DisplayName { get; }

    /// <summary>Candidate file names in the order they are tried.</summary>
    public IReadOnlyList<string> Names { get; }

    public bool IsLoaded => _load.Value.Handle != 0;

    public nint Handle => _load.Value.Handle;

    /// <summary>The name that loaded ("" when none did).</summary>
    public string LoadedName => _load.Value.Name;

    /// <summary>Why the library is not usable ("" when it loaded).</summary>
    public string Reason => _load.Value.Reason;

    private (nint, string, string) Load()
    {
        var errors = new List<string>();
        foreach (var name in Names)
        {
            try
            {
                // Load (not TryLoad) so the loader's own message (file missing, wrong ELF class,
                // missing dependency) reaches the reason.
                return (NativeLibrary.Load(name), name, "");
            }
            catch (DllNotFoundException e)
            {
                errors.Add(LoaderError(name, e.Message));
            }
            catch (BadImageFormatException e)
            {
                errors.Add(LoaderError(name, e.Message));
            }
        }
        return (0, "", $"{DisplayName} not found; tried {string.Join(", ", Names)} ({string.Join("; ", errors)})");
    }

    /// <summary>The address of an export; throws when the library is absent or lacks it.</summary>
    public nint Export(string symbol)
    {
        if (!IsLoaded) throw new DllNotFoundException(Reason);
        return NativeLibrary.TryGetExport(Handle, symbol, out var p)
            ? p
            : throw new EntryPointNotFoundException($"{LoadedName} has no export {symbol}");
    }

    /// <summary>The address of an export, or 0 (for functions newer library versions add).</summary>
    public nint TryExport(string symbol) =>
        IsLoaded && NativeLibrary.TryGetExport(Handle, symbol, out var p) ? p : 0;

    /// <summary>The dynamic loader's own lines (e.g. "libx.so.1: cannot open shared object
    /// file: ..."), without .NET's generic first line about strace and LD_DEBUG.</summary>
    private static string LoaderError(string name, string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length > 1 ? string.Join(" | ", lines.Skip(1)) : $"{name}: {message.Trim()}";
    }
}
