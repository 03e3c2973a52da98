namespace Kernels.Nets.IO;

/// <summary>Small text outputs (metrics.json, benchmark lines) written so that a reader, or a
/// crash, never sees half a file: a uniquely named temporary beside the target, then a rename;
/// the temporary is removed if anything fails.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        var tmp = $"{Path.GetFullPath(path)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            File.WriteAllText(tmp, text);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WriteAllLines(string path, IEnumerable<string> lines) =>
        WriteAllText(path, string.Concat(lines.Select(l => l + "\n")));
}
