using System.Buffers.Binary;
using System.Text.Json;

namespace Kernels.Nets.IO;

/// <summary>One tensor as a safetensors header describes it. Offsets are relative to the data
/// buffer that follows the header.</summary>
public sealed record SafeTensorInfo(string Name, SafeDType DType, Shape Shape, long Begin, long End)
{
    public long Numel => Shape.Numel;
    public long ByteLength => End - Begin;
}

/// <summary>The validated header of a safetensors file: every tensor's dtype, shape and byte
/// range, and the free-form string metadata. Reading it touches only the first 8 + N bytes.
/// </summary>
/// <remarks>
/// Validation follows the format's reference implementation and is strict: the tensors' byte
/// ranges must tile the data buffer exactly, so overlaps, holes between tensors and trailing
/// bytes after the last tensor are all refused (a file with stray bytes is most likely truncated
/// or spliced, and the Hugging Face tools refuse it too).
/// </remarks>
public sealed class SafeTensorsHeader
{
    /// <summary>Headers longer than this are refused before anything is allocated.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    public const string MetadataKey = "__metadata__";

    private readonly Dictionary<string, SafeTensorInfo> _byName;

    private SafeTensorsHeader(string path, long headerLength, long dataLength,
        List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        HeaderLength = headerLength;
        DataLength = dataLength;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path { get; }

    /// <summary>N, the length of the JSON header (padding included).</summary>
    public long HeaderLength { get; }

    /// <summary>Where the data buffer starts in the file: 8 + N.</summary>
    public long DataStart => 8 + HeaderLength;

    public long DataLength { get; }

    /// <summary>The tensors in the order of their data in the file.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public SafeTensorInfo this[string name] =>
        _byName.TryGetValue(name, out var t)
            ? t
            : throw new KeyNotFoundException($"{Path}: no tensor '{name}' (the file holds {Tensors.Count}: {Preview(Tensors.Select(x => x.Name))})");

    public static SafeTensorsHeader Read(string path)
    {
        using var stream = OpenRead(path);
        return Read(stream, path);
    }

    internal static FileStream OpenRead(string path)
    {
        if (Directory.Exists(path)) throw new FileNotFoundException($"{path} is a directory, not a safetensors file", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}", path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
    }

    /// <summary>Reads and validates the header from the start of <paramref name="stream"/>
    /// (which must be seekable; <paramref name="path"/> only names it in messages).</summary>
    public static SafeTensorsHeader Read(Stream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw SafeTensorsFormat.Error(path, $"the file is {fileLength} bytes long, shorter than the 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(prefix);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > (ulong)MaxHeaderBytes)
            throw SafeTensorsFormat.Error(path, $"the header length {n} is absurd (more than {MaxHeaderBytes} bytes)");
        if (n > (ulong)(fileLength - 8))
            throw SafeTensorsFormat.Error(path, $"the header length {n} runs beyond the end of the file ({fileLength} bytes)");
        if (n < 2)
            throw SafeTensorsFormat.Error(path, $"the header length {n} is too short for a JSON object");
        // Bounded by the file's own length and by MaxHeaderBytes, so this allocation is safe.
        var json = new byte[n];
        stream.ReadExactly(json);
        long dataLength = fileLength - 8 - (long)n;
        return Parse(path, json, (long)n, dataLength);
    }

    private static SafeTensorsHeader Parse(string path, byte[] json, long headerLength, long dataLength)
    {
        // JsonDocument only notices bad UTF-8 when a string is read; check it all up front.
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw SafeTensorsFormat.Error(path, "the header is not valid JSON (it is not valid UTF-8)");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw SafeTensorsFormat.Error(path, $"the header is not valid JSON ({e.Message})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw SafeTensorsFormat.Error(path, $"the header is a JSON {Kind(root)}, not an object");
            // The format asks for '{' as the very first byte (trailing spaces are the only padding).
            if (json[0] != (byte)'{')
                throw SafeTensorsFormat.Error(path, "the header does not start with '{' (leading whitespace is not allowed)");

            var tensors = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (!seen.Add(p.Name))
                    throw SafeTensorsFormat.Error(path, $"the name '{p.Name}' appears twice in the header");
                if (p.Name == MetadataKey) ParseMetadata(path, p.Value, metadata);
                else tensors.Add(ParseTensor(path, p.Name, p.Value, dataLength));
            }
            CheckTiling(path, tensors, dataLength);
            return new SafeTensorsHeader(path, headerLength, dataLength, tensors, metadata);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw SafeTensorsFormat.Error(path, $"\"{MetadataKey}\" is a JSON {Kind(value)}, not an object of strings");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw SafeTensorsFormat.Error(path, $"metadata '{m.Name}' is a JSON {Kind(m.Value)}; metadata values must be strings");
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                throw SafeTensorsFormat.Error(path, $"metadata key '{m.Name}' appears twice");
        }
    }

    private static SafeTensorInfo ParseTensor(string path, string name, JsonElement e, long dataLength)
    {
        if (name.Length == 0)
            throw SafeTensorsFormat.Error(path, "a tensor has an empty name");
        string what = $"tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object)
            throw SafeTensorsFormat.Error(path, $"{what} is a JSON {Kind(e)}, not an object with dtype, shape and data_offsets");

        var dtypeEl = Field(path, what, e, "dtype", JsonValueKind.String);
        var dtypeName = dtypeEl.GetString()!;
        if (!SafeDTypes.TryParse(dtypeName, out var dtype))
            throw SafeTensorsFormat.Error(path,
                $"{what} has the unknown dtype \"{dtypeName}\" (known: {string.Join(", ", Enum.GetNames<SafeDType>())})");

        var shapeEl = Field(path, what, e, "shape", JsonValueKind.Array);
        int rank = shapeEl.GetArrayLength();
        if (rank > 64)
            throw SafeTensorsFormat.Error(path, $"{what} has an absurd rank of {rank}");
        var dims = new int[rank];
        long numel = 1;
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            long v = NonNegative(path, $"{what}: shape[{i}]", d, int.MaxValue);
            dims[i++] = (int)v;
            try
            {
                numel = checked(numel * v);
            }
            catch (OverflowException)
            {
                throw SafeTensorsFormat.Error(path, $"{what}: the shape {Shape.Format(dims.AsSpan(0, i))}… has more elements than a 64-bit count holds");
            }
        }
        long expectedBytes;
        try
        {
            expectedBytes = checked(numel * dtype.Size());
        }
        catch (OverflowException)
        {
            throw SafeTensorsFormat.Error(path, $"{what}: the shape {Shape.Format(dims)} of {dtype} overflows a 64-bit byte count");
        }

        var offEl = Field(path, what, e, "data_offsets", JsonValueKind.Array);
        if (offEl.GetArrayLength() != 2)
            throw SafeTensorsFormat.Error(path, $"{what}: data_offsets has {offEl.GetArrayLength()} entries; expected [begin, end]");
        long begin = NonNegative(path, $"{what}: data_offsets[0]", offEl[0], long.MaxValue);
        long end = NonNegative(path, $"{what}: data_offsets[1]", offEl[1], long.MaxValue);
        if (begin > end)
            throw SafeTensorsFormat.Error(path, $"{what}: data_offsets [{begin}, {end}] has begin after end");
        if (end > dataLength)
            throw SafeTensorsFormat.Error(path,
                $"{what}: data_offsets [{begin}, {end}] run beyond the data buffer of {dataLength} bytes (truncated file?)");
        if (end - begin != expectedBytes)
            throw SafeTensorsFormat.Error(path,
                $"{what}: data_offsets [{begin}, {end}] span {end - begin} bytes, but shape {Shape.Format(dims)} of {dtype} needs {expectedBytes}");
        return new SafeTensorInfo(name, dtype, new Shape(dims), begin, end);
    }

    /// <summary>Sorts the tensors by offset and checks that their ranges cover the data buffer
    /// exactly once (see the class remarks).</summary>
    private static void CheckTiling(string path, List<SafeTensorInfo> tensors, long dataLength)
    {
        // Empty ranges sort before a non-empty one at the same offset, so they never count as overlaps.
        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long covered = 0;
        SafeTensorInfo? previous = null;
        foreach (var t in tensors)
        {
            if (t.Begin < covered)
                throw SafeTensorsFormat.Error(path,
                    $"tensor '{t.Name}' (bytes [{t.Begin}, {t.End})) overlaps tensor '{previous!.Name}' (bytes [{previous.Begin}, {previous.End}))");
            if (t.Begin > covered)
                throw SafeTensorsFormat.Error(path,
                    $"bytes [{covered}, {t.Begin}) of the data buffer belong to no tensor (a hole before tensor '{t.Name}')");
            covered = t.End;
            previous = t;
        }
        if (covered != dataLength)
            throw SafeTensorsFormat.Error(path,
                $"{dataLength - covered} trailing bytes after the last tensor belong to no tensor (data buffer is {dataLength} bytes, tensors cover {covered})");
    }

    private static JsonElement Field(string path, string what, JsonElement e, string field, JsonValueKind kind)
    {
        if (!e.TryGetProperty(field, out var v))
            throw SafeTensorsFormat.Error(path, $"{what} has no \"{field}\" field");
        if (v.ValueKind != kind)
            throw SafeTensorsFormat.Error(path, $"{what}: \"{field}\" is a JSON {Kind(v)}, expected a JSON {kind.ToString().ToLowerInvariant()}");
        return v;
    }

    private static long NonNegative(string path, string what, JsonElement e, long max)
    {
        if (e.ValueKind != JsonValueKind.Number)
            throw SafeTensorsFormat.Error(path, $"{what} is a JSON {Kind(e)}, expected a non-negative integer");
        if (e.TryGetInt64(out long v))
        {
            if (v < 0) throw SafeTensorsFormat.Error(path, $"{what} is negative ({v})");
            if (v > max) throw SafeTensorsFormat.Error(path, $"{what} is absurd ({v}, more than {max})");
            return v;
        }
        if (e.TryGetUInt64(out ulong u))
            throw SafeTensorsFormat.Error(path, $"{what} is absurd ({u})");
        var raw = e.GetRawText();
        if (raw.All(char.IsAsciiDigit))
            throw SafeTensorsFormat.Error(path, $"{what} is absurd ({raw})");
        throw SafeTensorsFormat.Error(path, $"{what} is {raw}, not an integer");
    }

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    internal static string Preview(IEnumerable<string> names)
    {
        var list = names.Take(11).ToList();
        return list.Count > 10 ? string.Join(", ", list.Take(10)) + ", …" : string.Join(", ", list);
    }
}
