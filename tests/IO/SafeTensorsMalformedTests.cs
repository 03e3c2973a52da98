using System.Buffers.Binary;
using Kernels.Nets;
using Kernels.Nets.IO;

namespace Kernels.Tests.IO;

/// <summary>Hostile and malformed files: each is refused with an InvalidDataException that names
/// the file and the problem, before any tensor (or large buffer) is allocated.</summary>
public class SafeTensorsMalformedTests : TempFolderTest
{
    private const string T8 = "\"dtype\":\"F32\",\"shape\":[2]";

    private void Refused(string path, string fragment)
    {
        long live = TensorStats.LiveTensors;
        foreach (var read in new Action[] { () => SafeTensors.ReadHeader(path), () => SafeTensors.Load(path).Dispose() })
        {
            var e = Assert.Throws<InvalidDataException>(() => read());
            Assert.That(e!.Message, Does.Contain(path), "the message names the file");
            Assert.That(e.Message, Does.Contain(SafeTensorsFormat.Prefix));
            Assert.That(e.Message, Does.Contain(fragment));
        }
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(live), "no tensor allocated");
    }

    private void RefusedHeader(string header, int dataBytes, string fragment) =>
        Refused(WriteRaw("bad.safetensors", header, dataBytes), fragment);

    // ---- the first 8 bytes and the header length ------------------------------------------

    [TestCase(0), TestCase(3), TestCase(7)]
    public void FileShorterThanEightBytes(int length)
    {
        var path = PathOf("short.safetensors");
        File.WriteAllBytes(path, new byte[length]);
        Refused(path, $"the file is {length} bytes long, shorter than the 8-byte header length");
    }

    [Test]
    public void HeaderLengthBeyondTheFile() =>
        Refused(WriteRaw("bad.safetensors", "{}", 0, headerLength: 1000), "the header length 1000 runs beyond the end of the file (10 bytes)");

    [TestCase(100UL * 1024 * 1024 + 1), TestCase(1UL << 40), TestCase(ulong.MaxValue)]
    public void AbsurdHeaderLength(ulong n) =>
        Refused(WriteRaw("bad.safetensors", "{}", 0, headerLength: n), $"the header length {n} is absurd");

    [TestCase(0UL), TestCase(1UL)]
    public void HeaderTooShortForAnObject(ulong n) =>
        Refused(WriteRaw("bad.safetensors", "{}", 0, headerLength: n), "too short for a JSON object");

    // ---- the JSON itself -----------------------------------------------------------------------

    [TestCase("{not json}"), TestCase("{\"a\":{}"), TestCase("{\"a\":1,}"), TestCase("        ")]
    public void HeaderNotValidJson(string header) => RefusedHeader(header, 0, "the header is not valid JSON");

    [Test]
    public void HeaderNotValidUtf8()
    {
        var path = WriteRaw("bad.safetensors", "{\"ab\":1}", 0);
        var bytes = File.ReadAllBytes(path);
        bytes[10] = 0xFF; // inside the name "ab"
        File.WriteAllBytes(path, bytes);
        Refused(path, "the header is not valid JSON");
    }

    [TestCase("[]", "array"), TestCase("\"text\"", "string"), TestCase("42", "number"), TestCase("null", "null")]
    public void HeaderNotAnObject(string header, string kind) =>
        RefusedHeader(header, 0, $"the header is a JSON {kind}, not an object");

    [Test]
    public void HeaderWithLeadingWhitespace() =>
        RefusedHeader("  {}", 0, "the header does not start with '{'");

    [Test]
    public void HeaderNestedTooDeep() =>
        RefusedHeader("{\"a\":" + new string('[', 20) + new string(']', 20) + "}", 0, "not valid JSON");

    // ---- tensor entries ---------------------------------------------------------------------

    [TestCase("{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "tensor 'x' has no \"dtype\" field")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", "tensor 'x' has no \"shape\" field")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", "tensor 'x' has no \"data_offsets\" field")]
    public void EntryMissingAField(string header, string fragment) => RefusedHeader(header, 8, fragment);

    [TestCase("{\"x\":5}", "tensor 'x' is a JSON number, not an object")]
    [TestCase("{\"x\":[]}", "tensor 'x' is a JSON array, not an object")]
    [TestCase("{\"x\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", "\"dtype\" is a JSON number, expected a JSON string")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", "\"shape\" is a JSON number, expected a JSON array")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"b\":0}}}", "\"data_offsets\" is a JSON object, expected a JSON array")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", "shape[0] is a JSON string, expected a non-negative integer")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", "shape[0] is 2.5, not an integer")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", "data_offsets[1] is a JSON string")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0e0]}}", "data_offsets[1] is 8.0e0, not an integer")]
    [TestCase("{\"x\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,8]}}", "shape[0] is a JSON null")]
    public void EntryWithWrongTypes(string header, string fragment) => RefusedHeader(header, 8, fragment);

    [TestCase("F33"), TestCase("f32"), TestCase("float32"), TestCase("")]
    public void UnknownDType(string dtype) =>
        RefusedHeader($"{{\"x\":{{\"dtype\":\"{dtype}\",\"shape\":[2],\"data_offsets\":[0,8]}}}}", 8, $"tensor 'x' has the unknown dtype \"{dtype}\"");

    [Test]
    public void NegativeDimension() =>
        RefusedHeader("{\"x\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8, "tensor 'x': shape[1] is negative (-1)");

    [TestCase("2147483648"), TestCase("1099511627776"), TestCase("18446744073709551615"), TestCase("99999999999999999999999")]
    public void AbsurdDimension(string dim) =>
        RefusedHeader($"{{\"x\":{{\"dtype\":\"F32\",\"shape\":[{dim}],\"data_offsets\":[0,8]}}}}", 8, "tensor 'x': shape[0] is");

    [Test]
    public void AbsurdRank() =>
        RefusedHeader("{\"x\":{\"dtype\":\"F32\",\"shape\":[" + string.Join(",", Enumerable.Repeat(1, 65)) + "],\"data_offsets\":[0,4]}}", 4, "absurd rank of 65");

    [Test]
    public void ShapeProductOverflowsElementCount() =>
        RefusedHeader("{\"x\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8,
            "has more elements than a 64-bit count holds");

    [Test]
    public void ShapeProductOverflowsByteCount() =>
        RefusedHeader("{\"x\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2],\"data_offsets\":[0,8]}}", 8,
            "overflows a 64-bit byte count");

    [Test]
    public void HugeShapeIsRefusedWithoutAllocating()
    {
        // 40 GB claimed by a 100-byte file: the size check must come before any buffer.
        var path = WriteRaw("bad.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[100000,100000],\"data_offsets\":[0,8]}}", 8);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20));
    }

    // ---- data offsets -----------------------------------------------------------------------

    [Test]
    public void OffsetsBeginAfterEnd() =>
        RefusedHeader($"{{\"x\":{{{T8},\"data_offsets\":[8,0]}}}}", 8, "data_offsets [8, 0] has begin after end");

    [TestCase("[0]", 1), TestCase("[0,8,16]", 3), TestCase("[]", 0)]
    public void OffsetsNotAPair(string offsets, int count) =>
        RefusedHeader($"{{\"x\":{{{T8},\"data_offsets\":{offsets}}}}}", 8, $"data_offsets has {count} entries; expected [begin, end]");

    [Test]
    public void NegativeOffset() =>
        RefusedHeader($"{{\"x\":{{{T8},\"data_offsets\":[-8,0]}}}}", 8, "data_offsets[0] is negative (-8)");

    [Test]
    public void OffsetsBeyondTheData() =>
        RefusedHeader($"{{\"x\":{{{T8},\"data_offsets\":[8,16]}}}}", 12, "run beyond the data buffer of 12 bytes");

    [Test]
    public void OffsetsHugeBeyondTheData() =>
        RefusedHeader($"{{\"x\":{{{T8},\"data_offsets\":[0,18446744073709551615]}}}}", 8, "data_offsets[1] is absurd");

    [Test]
    public void SizeNotMatchingShape() =>
        RefusedHeader($"{{\"x\":{{{T8},\"data_offsets\":[0,12]}}}}", 12, "span 12 bytes, but shape [2] of F32 needs 8");

    [Test]
    public void OverlappingTensors() =>
        RefusedHeader($"{{\"a\":{{{T8},\"data_offsets\":[0,8]}},\"b\":{{{T8},\"data_offsets\":[4,12]}}}}", 12,
            "tensor 'b' (bytes [4, 12)) overlaps tensor 'a' (bytes [0, 8))");

    [Test]
    public void TwoTensorsOnTheSameBytes() =>
        RefusedHeader($"{{\"a\":{{{T8},\"data_offsets\":[0,8]}},\"b\":{{{T8},\"data_offsets\":[0,8]}}}}", 8, "overlaps tensor");

    [Test]
    public void EmptyTensorInsideAnotherOverlaps() =>
        RefusedHeader($"{{\"a\":{{{T8},\"data_offsets\":[0,8]}},\"e\":{{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}}}", 8,
            "tensor 'e' (bytes [4, 4)) overlaps tensor 'a'");

    [Test]
    public void HoleBetweenTensors() =>
        RefusedHeader($"{{\"a\":{{{T8},\"data_offsets\":[0,8]}},\"b\":{{{T8},\"data_offsets\":[12,20]}}}}", 20,
            "bytes [8, 12) of the data buffer belong to no tensor (a hole before tensor 'b')");

    /// <summary>Decided: trailing bytes are refused, as the reference implementation does.</summary>
    [Test]
    public void TrailingDataNotCoveredIsRefused() =>
        RefusedHeader($"{{\"a\":{{{T8},\"data_offsets\":[0,8]}}}}", 11, "3 trailing bytes after the last tensor belong to no tensor");

    [Test]
    public void DataWithNoTensorsIsRefused() =>
        RefusedHeader("{}", 4, "4 trailing bytes");

    // ---- names and metadata -----------------------------------------------------------------

    [Test]
    public void DuplicateNames() =>
        RefusedHeader($"{{\"a\":{{{T8},\"data_offsets\":[0,8]}},\"a\":{{{T8},\"data_offsets\":[8,16]}}}}", 16, "the name 'a' appears twice");

    [Test]
    public void DuplicateMetadataBlocks() =>
        RefusedHeader("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "the name '__metadata__' appears twice");

    [Test]
    public void EmptyName() =>
        RefusedHeader($"{{\"\":{{{T8},\"data_offsets\":[0,8]}}}}", 8, "a tensor has an empty name");

    [TestCase("[]", "array"), TestCase("\"x\"", "string")]
    public void MetadataNotAnObject(string value, string kind) =>
        RefusedHeader($"{{\"__metadata__\":{value}}}", 0, $"\"__metadata__\" is a JSON {kind}, not an object of strings");

    [TestCase("1"), TestCase("true"), TestCase("{}"), TestCase("null")]
    public void MetadataValueNotAString(string value) =>
        RefusedHeader($"{{\"__metadata__\":{{\"k\":{value}}}}}", 0, "metadata 'k' is a JSON");

    [Test]
    public void FileTruncatedAfterTheHeaderWasChecked()
    {
        // Valid header, then the data is cut short: the offsets check catches it.
        var path = WriteRaw("bad.safetensors", $"{{\"a\":{{{T8},\"data_offsets\":[0,8]}}}}", 5);
        Refused(path, "run beyond the data buffer of 5 bytes (truncated file?)");
    }

    [Test]
    public void HeaderPaddedWithSpacesIsAccepted()
    {
        var path = WriteRaw("ok.safetensors", $"{{\"a\":{{{T8},\"data_offsets\":[0,8]}}}}       ", 8);
        using var c = SafeTensors.Load(path);
        Assert.That(c["a"].Shape, Is.EqualTo(new Shape(2)));
    }

    [Test]
    public void MissingFileAndFolderAreFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => SafeTensors.ReadHeader(PathOf("none.safetensors")));
        Assert.Throws<FileNotFoundException>(() => SafeTensors.Load(Dir));
    }

    [Test]
    public void EightByteFileWithZeroLengthIsRefused()
    {
        var path = PathOf("zero.safetensors");
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 0);
        File.WriteAllBytes(path, bytes);
        Refused(path, "too short for a JSON object");
    }
}
