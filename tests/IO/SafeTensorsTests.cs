using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Kernels.Nets;
using Kernels.Nets.IO;

namespace Kernels.Tests.IO;

/// <summary>A fresh folder per test, deleted afterwards; lists leftover temporary files.</summary>
public abstract class TempFolderTest
{
    protected string Dir { get; private set; } = "";

    [SetUp]
    public void MakeFolder()
    {
        Dir = Path.Combine(Path.GetTempPath(), "kernels-io-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
    }

    [TearDown]
    public void RemoveFolder()
    {
        if (Directory.Exists(Dir)) Directory.Delete(Dir, recursive: true);
    }

    protected string PathOf(string name) => Path.Combine(Dir, name);

    protected string[] TempFiles() => Directory.GetFiles(Dir, "*.tmp-*");

    /// <summary>Writes a file from a header string and a data buffer of the given size (filled with a pattern).</summary>
    protected string WriteRaw(string name, string header, int dataBytes, ulong? headerLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        for (int i = 0; i < dataBytes; i++) bytes[8 + json.Length + i] = (byte)(i * 7 + 1);
        var path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}

public class SafeTensorsTests : TempFolderTest
{
    private static readonly int[][] Shapes = [[], [0], [1], [7], [3, 0, 2], [2, 3, 4], [1, 1, 5, 1], [13, 17]];

    private static Tensor Random(DType dtype, int[] shape, Random r)
    {
        int n = (int)new Shape(shape).Numel;
        return dtype switch
        {
            DType.F32 => Tensor.FromArray(Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 200 - 100)).ToArray(), shape),
            DType.F64 => Tensor.FromArray(Enumerable.Range(0, n).Select(_ => r.NextDouble() * 2e6 - 1e6).ToArray(), shape),
            DType.I32 => Tensor.FromArray(Enumerable.Range(0, n).Select(_ => r.Next(int.MinValue, int.MaxValue)).ToArray(), shape),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
    }

    private static byte[] Bits(Tensor t) => t.DType switch
    {
        DType.F32 => t.ToArray<float>().SelectMany(BitConverter.GetBytes).ToArray(),
        DType.F64 => t.ToArray<double>().SelectMany(BitConverter.GetBytes).ToArray(),
        DType.I32 => t.ToArray<int>().SelectMany(BitConverter.GetBytes).ToArray(),
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    [TestCase(DType.F32), TestCase(DType.F64), TestCase(DType.I32)]
    public void RoundTripKeepsEveryShapeDTypeAndBit(DType dtype)
    {
        var r = new Random(11);
        var tensors = new OrderedDictionary<string, Tensor>();
        for (int i = 0; i < Shapes.Length; i++) tensors.Add($"t{i}.{Shape.Format(Shapes[i])}", Random(dtype, Shapes[i], r));
        if (dtype != DType.I32)
        {
            // Special values must survive bit for bit.
            double[] special = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, double.Epsilon, 1e-40];
            tensors.Add("special", Tensor.FromHost(special, [special.Length], dtype));
        }
        var path = PathOf("rt.safetensors");
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["k"] = "v" });

        using var loaded = SafeTensors.Load(path);
        Assert.That(loaded.Tensors.Keys, Is.EqualTo(tensors.Keys), "names, in the order written");
        foreach (var (name, t) in tensors)
        {
            var back = loaded[name];
            Assert.That(back.DType, Is.EqualTo(dtype), name);
            Assert.That(back.Shape, Is.EqualTo(t.Shape), name);
            Assert.That(Bits(back), Is.EqualTo(Bits(t)), name);
            Assert.That(back.Name, Is.EqualTo(name));
        }
        Assert.That(TempFiles(), Is.Empty);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Test]
    public void MetadataRoundTripsIncludingUnicodeAndEmptyValues()
    {
        var meta = new Dictionary<string, string> { ["step"] = "12", ["note"] = "ünïcödé ✓ \"quoted\" \\ \n", ["empty"] = "" };
        var path = PathOf("m.safetensors");
        using var t = Tensor.Ones([2]);
        SafeTensors.Save(path, [new("a", t)], meta);
        var header = SafeTensors.ReadHeader(path);
        Assert.That(header.Metadata, Is.EquivalentTo(meta));
    }

    [Test]
    public void NoMetadataAndNoTensorsIsAValidFile()
    {
        var path = PathOf("empty.safetensors");
        SafeTensors.Save(path, []);
        using var c = SafeTensors.Load(path);
        Assert.That(c.Tensors, Is.Empty);
        Assert.That(c.Metadata, Is.Empty);
    }

    [Test]
    public void WrittenFileHasTheStandardLayout()
    {
        var path = PathOf("layout.safetensors");
        using var a = Tensor.FromArray(new float[] { 1, 2, 3 }, [3]);
        using var b = Tensor.FromArray(new[] { 4.0, 5.0 }, [1, 2]);
        SafeTensors.Save(path, [new("a", a), new("b", b)], new Dictionary<string, string> { ["x"] = "y" });

        // Parsed here independently of the reader.
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        Assert.That(n % 8, Is.Zero, "header padded so the data is 8-byte aligned");
        Assert.That(bytes.Length, Is.EqualTo(8 + n + 12 + 16));
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var ea = doc.RootElement.GetProperty("a");
        Assert.That(ea.GetProperty("dtype").GetString(), Is.EqualTo("F32"));
        Assert.That(ea.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 0, 12 }));
        var eb = doc.RootElement.GetProperty("b");
        Assert.That(eb.GetProperty("dtype").GetString(), Is.EqualTo("F64"));
        Assert.That(eb.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(eb.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 12, 28 }));
        Assert.That(doc.RootElement.GetProperty("__metadata__").GetProperty("x").GetString(), Is.EqualTo("y"));
        Assert.That(BitConverter.ToSingle(bytes, (int)(8 + n + 4)), Is.EqualTo(2f));
        Assert.That(BitConverter.ToDouble(bytes, (int)(8 + n + 20)), Is.EqualTo(5.0));
    }

    [Test]
    public void ReadsASubsetByNameInTheOrderAsked()
    {
        var path = PathOf("subset.safetensors");
        using var a = Tensor.FromArray(new float[] { 1, 2 }, [2]);
        using var b = Tensor.FromArray(new[] { 3 }, [1]);
        using var c = Tensor.FromArray(new[] { 4.0 }, []);
        SafeTensors.Save(path, [new("a", a), new("b", b), new("c", c)]);
        using var part = SafeTensors.Load(path, ["c", "a"]);
        Assert.That(part.Tensors.Keys, Is.EqualTo(new[] { "c", "a" }));
        Assert.That(part["c"].Item(), Is.EqualTo(4.0));
        Assert.That(part["a"].ToArray<float>(), Is.EqualTo(new float[] { 1, 2 }));

        long live = TensorStats.LiveTensors;
        var e = Assert.Throws<KeyNotFoundException>(() => SafeTensors.Load(path, ["a", "nope"]));
        Assert.That(e!.Message, Does.Contain("nope").And.Contain(path));
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(live), "nothing allocated before the names were checked");
    }

    [Test]
    public void HeaderListsNamesShapesAndDTypesWithoutReadingData()
    {
        var path = PathOf("h.safetensors");
        using var a = Tensor.Zeros([4, 5], DType.F64);
        using var b = Tensor.Zeros([0, 3], DType.I32);
        SafeTensors.Save(path, [new("w", a), new("idx", b)]);
        var h = SafeTensors.ReadHeader(path);
        Assert.That(h.Tensors.Select(t => (t.Name, t.DType, t.Shape.ToString(), t.ByteLength)),
            Is.EqualTo(new[] { ("w", SafeDType.F64, "[4, 5]", 160L), ("idx", SafeDType.I32, "[0, 3]", 0L) }));
        Assert.That(h.Contains("w") && !h.Contains("x"));
    }

    [Test]
    public void ReadsTheFileWrittenByThePythonPacker()
    {
        var path = Path.Combine(TestContext.CurrentContext.TestDirectory, "Vectors", "safetensors_sample.safetensors");
        var h = SafeTensors.ReadHeader(path);
        Assert.That(h.Metadata["format"], Is.EqualTo("pt"));
        Assert.That(h.Metadata["note"], Is.EqualTo("ünïcödé ✓"));
        Assert.That(h["bf16"].DType, Is.EqualTo(SafeDType.BF16));
        Assert.That(h["index"].DType, Is.EqualTo(SafeDType.I64));

        using var c = SafeTensors.Load(path);
        var w = c["weight"];
        Assert.That(w.DType, Is.EqualTo(DType.F32));
        Assert.That(w.Shape, Is.EqualTo(new Shape(3, 5)));
        Assert.That(w.ToArray<float>(), Is.EqualTo(Enumerable.Range(0, 15).Select(i => i / 4f - 1).ToArray()));

        var r = c["rand64"];
        Assert.That(r.DType, Is.EqualTo(DType.F64));
        Assert.That(r.Shape, Is.EqualTo(new Shape(2, 3, 4)));
        Assert.That(r.ToArray<double>().Sum(), Is.EqualTo(c["rand64.sum"].Item()).Within(1e-12));
        Assert.That(r.ToArray<double>().All(v => v is >= 0 and < 1));

        Assert.That(c["scalar"].Shape.Rank, Is.Zero);
        Assert.That(c["scalar"].Item(), Is.EqualTo(2.75));

        var idx = c["index"];
        Assert.That(idx.DType, Is.EqualTo(DType.I32), "I64 is read as int32");
        Assert.That(idx.ToArray<int>(), Is.EqualTo(new[] { 0, -1, 7, int.MaxValue, int.MinValue, 42 }));
        Assert.That(c["int32"].ToArray<int>(), Is.EqualTo(new[] { 1, -2, 3, int.MaxValue }));

        var bf = c["bf16"];
        Assert.That(bf.DType, Is.EqualTo(DType.F32), "BF16 is read as float32");
        Assert.That(bf.Shape, Is.EqualTo(new Shape(2, 3)));
        Assert.That(bf.ToArray<float>(), Is.EqualTo(c["bf16.f32"].ToArray<float>()), "the exact widening torch does");
        Assert.That(bf.ToArray<float>()[..2], Is.EqualTo(new[] { 1f, -2.5f }));
        Assert.That(float.IsNegativeInfinity(bf.ToArray<float>()[5]));

        Assert.That(c["f16"].ToArray<float>(), Is.EqualTo(c["f16.f32"].ToArray<float>()));
        Assert.That(c["f16"].ToArray<float>()[2], Is.EqualTo(65504f));

        Assert.That(c["empty"].Shape, Is.EqualTo(new Shape(0, 4)));
        Assert.That(c.Tensors.Keys.First(), Is.EqualTo("weight"), "tensors come in the order of their data");
    }

    [Test]
    public void ReadsEveryCommittedReferenceFileAsTheTestReaderDoes()
    {
        // Cross-check with the tests' own independent reader (tests/Support/VectorFile.cs) on
        // every file scripts/vectors/common.py wrote.
        var dir = Path.Combine(TestContext.CurrentContext.TestDirectory, "Vectors");
        var files = Directory.GetFiles(dir, "*.safetensors").Where(f => !f.EndsWith("safetensors_sample.safetensors")).ToList();
        Assert.That(files, Is.Not.Empty);
        foreach (var file in files)
        {
            var reference = new Support.VectorFile(Path.GetFileNameWithoutExtension(file));
            using var reader = SafeTensorsReader.Open(file);
            Assert.That(reader.Header.Tensors.Select(t => t.Name), Is.EquivalentTo(reference.Names), file);
            // I64 may legitimately hold values beyond int32 in some family's file; compare the exact types.
            foreach (var info in reader.Header.Tensors.Where(i => i.DType is SafeDType.F32 or SafeDType.F64 or SafeDType.I32))
            {
                using var t = reader.Read(info.Name);
                Assert.That(t.Shape.ToArray(), Is.EqualTo(reference.Shape(info.Name)), $"{file}: {info.Name}");
                Assert.That(t.ToDoubles(), Is.EqualTo(reference.Doubles(info.Name)), $"{file}: {info.Name}");
            }
        }
    }

    [Test]
    public void I64OutsideTheInt32RangeIsRefusedAndNothingLeaks()
    {
        var data = new byte[24];
        // "ok" comes first in the data, so it is read (and must be released) before "big" fails.
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), 5);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(16), 1L << 40);
        var path = PathOf("i64.safetensors");
        WriteWithData(path, """{"big":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},"ok":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", data);
        long live = TensorStats.LiveTensors;
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("'big'").And.Contain("1099511627776").And.Contain("int32 range"));
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(live));
    }

    [Test]
    public void ValidButUnsupportedDTypeIsListedButNotRead()
    {
        var path = PathOf("u8.safetensors");
        WriteWithData(path, """{"mask":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}""", [1, 0, 1]);
        Assert.That(SafeTensors.ReadHeader(path)["mask"].DType, Is.EqualTo(SafeDType.U8));
        var e = Assert.Throws<NotSupportedException>(() => SafeTensors.Load(path));
        Assert.That(e!.Message, Does.Contain("'mask'").And.Contain("U8"));
    }

    [Test]
    public void LargeTensorStreamsThroughConversionChunks()
    {
        // More than one 1 MiB conversion chunk of BF16, with a value that depends on the index.
        int n = 700_001;
        var data = new byte[2 * n];
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * i), (ushort)(BitConverter.SingleToInt32Bits(i % 256) >> 16));
        var path = PathOf("big.safetensors");
        WriteWithData(path, "{\"x\":{\"dtype\":\"BF16\",\"shape\":[" + n + "],\"data_offsets\":[0," + 2 * n + "]}}", data);
        using var c = SafeTensors.Load(path);
        var v = c["x"].ToArray<float>();
        for (int i = 0; i < n; i += 9973) Assert.That(v[i], Is.EqualTo((float)(i % 256)), $"element {i}");
        Assert.That(v[n - 1], Is.EqualTo((float)((n - 1) % 256)));
    }

    private static void WriteWithData(string path, string header, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)json.Length);
        f.Write(len);
        f.Write(json);
        f.Write(data);
    }
}
