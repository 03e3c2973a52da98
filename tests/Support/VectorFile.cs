using System.Buffers.Binary;
using System.Text.Json;
using Kernels.Nets;

namespace Kernels.Tests.Support;

/// <summary>Reads a reference file written by scripts/vectors/common.py (safetensors layout).
/// Deliberately independent of the engine's own checkpoint reader, so each checks the other.</summary>
public sealed class VectorFile
{
    private readonly Dictionary<string, (string DType, int[] Shape, byte[] Data)> _tensors = new();
    private readonly Dictionary<string, string> _meta = new();

    public VectorFile(string name)
    {
        var path = Path.Combine(TestContext.CurrentContext.TestDirectory, "Vectors", name + ".safetensors");
        if (!File.Exists(path))
            throw new FileNotFoundException($"reference file {path} is missing: run scripts/gen_vectors.sh", path);
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        int dataStart = 8 + (int)n;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                foreach (var m in p.Value.EnumerateObject()) _meta[m.Name] = m.Value.GetString()!;
                continue;
            }
            var dtype = p.Value.GetProperty("dtype").GetString()!;
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            _tensors[p.Name] = (dtype, shape, bytes[(dataStart + off[0])..(dataStart + off[1])]);
        }
    }

    public IEnumerable<string> Names => _tensors.Keys;

    public int[] Shape(string name) => Get(name).Shape;

    public string Meta(string key) => _meta.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"no metadata '{key}'");

    /// <summary>Values as doubles whatever the stored dtype.</summary>
    public double[] Doubles(string name)
    {
        var (dtype, _, data) = Get(name);
        return dtype switch
        {
            "F64" => Enumerable.Range(0, data.Length / 8).Select(i => BitConverter.ToDouble(data, i * 8)).ToArray(),
            "F32" => Enumerable.Range(0, data.Length / 4).Select(i => (double)BitConverter.ToSingle(data, i * 4)).ToArray(),
            "I32" => Enumerable.Range(0, data.Length / 4).Select(i => (double)BitConverter.ToInt32(data, i * 4)).ToArray(),
            "I64" => Enumerable.Range(0, data.Length / 8).Select(i => (double)BitConverter.ToInt64(data, i * 8)).ToArray(),
            _ => throw new NotSupportedException(dtype),
        };
    }

    public int[] Ints(string name) => Doubles(name).Select(v => (int)v).ToArray();

    /// <summary>The stored tensor as an engine tensor of the given dtype.</summary>
    public Tensor Tensor(string name, DType dtype = DType.F32) =>
        dtype == DType.I32
            ? Nets.Tensor.FromArray(Ints(name), Shape(name))
            : Nets.Tensor.FromHost(Doubles(name), Shape(name), dtype);

    private (string DType, int[] Shape, byte[] Data) Get(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"reference tensor '{name}' not in file; have {string.Join(", ", _tensors.Keys)}");
}
