using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;

namespace Kernels.Nets.IO;

/// <summary>Tensors and string metadata read from a safetensors file. Owns the tensors.</summary>
public sealed class SafeTensorsContent(OrderedDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    : IDisposable
{
    public OrderedDictionary<string, Tensor> Tensors { get; } = tensors;
    public IReadOnlyDictionary<string, string> Metadata { get; } = metadata;

    public Tensor this[string name] => Tensors[name];

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}

/// <summary>The safetensors format (what PyTorch and the Hugging Face tools read and write):
/// an 8-byte little-endian header length N, N bytes of JSON (per tensor its dtype, shape and
/// byte range; string metadata under "__metadata__"), then the tensors' bytes, tightly packed,
/// little-endian. Writes are atomic; reads validate the whole header first and stream the data.</summary>
public static class SafeTensors
{
    /// <summary>Lists the tensors (name, dtype, shape, byte range) and metadata without reading any data.</summary>
    public static SafeTensorsHeader ReadHeader(string path) => SafeTensorsHeader.Read(path);

    /// <summary>Reads every tensor onto <paramref name="device"/> (default: the CPU).</summary>
    public static SafeTensorsContent Load(string path, Device? device = null)
    {
        using var reader = SafeTensorsReader.Open(path);
        return new SafeTensorsContent(reader.ReadAll(device), reader.Metadata);
    }

    /// <summary>Reads only the named tensors, in the order given.</summary>
    public static SafeTensorsContent Load(string path, IEnumerable<string> names, Device? device = null)
    {
        using var reader = SafeTensorsReader.Open(path);
        return new SafeTensorsContent(reader.Read(names, device), reader.Metadata);
    }

    /// <summary>Writes the tensors, in the order given, and the metadata to <paramref name="path"/>
    /// atomically: the bytes go to a temporary file in the same folder, which is flushed to disk
    /// and then renamed over the target. If anything fails, the temporary file is deleted and an
    /// existing file at <paramref name="path"/> is left as it was.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors I/O assumes a little-endian machine");
        var list = tensors.ToList();
        var header = BuildHeader(path, list, metadata);

        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"SafeTensors.Save: the folder {dir} (for {path}) does not exist");
        var tmp = full + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                foreach (var (_, t) in list) WriteData(fs, t);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (IOException e) when (Directory.Exists(full))
        {
            TryDelete(tmp);
            throw new IOException($"SafeTensors.Save: cannot write {path}: it is a directory", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    private static byte[] BuildHeader(string path, List<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (k, v) in metadata)
                {
                    if (k is null || v is null)
                        throw new ArgumentException($"SafeTensors.Save({path}): metadata keys and values must not be null");
                    w.WriteString(k, v);
                }
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in tensors)
            {
                if (string.IsNullOrEmpty(name))
                    throw new ArgumentException($"SafeTensors.Save({path}): a tensor has an empty name");
                if (name == SafeTensorsHeader.MetadataKey)
                    throw new ArgumentException($"SafeTensors.Save({path}): '{name}' is reserved for the metadata");
                if (!names.Add(name))
                    throw new ArgumentException($"SafeTensors.Save({path}): the name '{name}' is given twice");
                ArgumentNullException.ThrowIfNull(t, $"tensor '{name}'");
                if (t.DType is not (DType.F32 or DType.F64 or DType.I32))
                    throw new ArgumentException($"SafeTensors.Save({path}): tensor '{name}' is {t.DType.Name()}; float32, float64 and int32 can be written");
                long bytes = t.Numel * t.DType.Size();
                w.WriteStartObject(name);
                w.WriteString("dtype", SafeDTypes.From(t.DType).ToString());
                w.WriteStartArray("shape");
                foreach (var d in t.Shape.Dims) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        // Pad with spaces so the data starts 8-byte aligned (as the reference writer does).
        int pad = (int)(-buffer.WrittenCount & 7);
        var header = new byte[buffer.WrittenCount + pad];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void WriteData(FileStream fs, Tensor t)
    {
        int n = checked((int)t.Numel);
        if (n == 0) return;
        switch (t.DType)
        {
            case DType.F32: Write<float>(fs, t, n); break;
            case DType.F64: Write<double>(fs, t, n); break;
            case DType.I32: Write<int>(fs, t, n); break;
            default: throw new InvalidOperationException($"unexpected dtype {t.DType}");
        }
    }

    private static void Write<T>(FileStream fs, Tensor t, int n) where T : unmanaged
    {
        // The CPU buffer is written in place; other devices are copied to the host one tensor at a time.
        ReadOnlySpan<T> data = t.Device.Kind == DeviceKind.Cpu ? CpuBuffer.Span<T>(t.Buffer)[..n] : t.ToArray<T>();
        fs.Write(MemoryMarshal.AsBytes(data));
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original error matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
