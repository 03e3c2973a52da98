using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kernels.Nets.Data.Nifti;

namespace Kernels.Tests.Lits;

/// <summary>The NIfTI-1 reader and writer against files written and read by nibabel 5
/// (scripts/vectors/nifti.py → tests/Vectors/nifti/, expected.json holds what nibabel reads).</summary>
public class NiftiTests
{
    private static string VectorDir => Path.Combine(TestContext.CurrentContext.TestDirectory, "Vectors", "nifti");

    private static JsonObject Expected() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(VectorDir, "expected.json")))!.AsObject();

    public static IEnumerable<string> VectorFiles()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "Vectors", "nifti");
        var doc = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")))!.AsObject();
        return doc.Select(p => p.Key).OrderBy(k => k, StringComparer.Ordinal).ToList();
    }

    private string _tmp = "";

    [SetUp]
    public void SetUp()
    {
        _tmp = Path.Combine(Path.GetTempPath(), "nifti-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_tmp);
    }

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_tmp)) Directory.Delete(_tmp, recursive: true);
    }

    private static double[] Doubles(JsonNode? n) => n!.AsArray().Select(v => v!.GetValue<double>()).ToArray();

    private static void AssertAffine(double[,] actual, JsonNode expected, double tol, string what)
    {
        var rows = expected.AsArray();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.That(actual[i, j], Is.EqualTo(rows[i]![j]!.GetValue<double>()).Within(tol), $"{what}: affine[{i},{j}]");
    }

    [TestCaseSource(nameof(VectorFiles))]
    public void ReadsWhatNibabelReads(string name)
    {
        var e = Expected()[name]!;
        var img = NiftiReader.Read(Path.Combine(VectorDir, name));
        var shape = e["shape"]!.AsArray().Select(v => v!.GetValue<int>()).ToArray();
        var s = img.Shape;
        Assert.That(new[] { s.X, s.Y, s.Z }.Take(Math.Min(3, shape.Length)), Is.EqualTo(shape.Take(3)), "shape");
        for (int i = shape.Length; i < 3; i++) Assert.That(new[] { s.X, s.Y, s.Z }[i], Is.EqualTo(1), $"missing dimension {i} has size 1");
        var zooms = Doubles(e["zooms"]);
        var sp = new[] { img.Spacing.X, img.Spacing.Y, img.Spacing.Z };
        for (int i = 0; i < zooms.Length; i++) Assert.That(sp[i], Is.EqualTo(zooms[i]).Within(1e-6), $"spacing[{i}]");
        AssertAffine(img.Affine, e["affine"]!, 1e-4, name);
        Assert.That((int)img.Header.DataType, Is.EqualTo(e["datatype"]!.GetValue<int>()));
        Assert.That(img.Header.BigEndian, Is.EqualTo(e["big_endian"]!.GetValue<bool>()));
        Assert.That(img.Header.QFormCode, Is.EqualTo(e["qform_code"]!.GetValue<int>()));
        Assert.That(img.Header.SFormCode, Is.EqualTo(e["sform_code"]!.GetValue<int>()));
        Assert.That(img.Header.Description, Is.EqualTo(e["descrip"]!.GetValue<string>()));
        Assert.That((long)img.Header.VoxOffset, Is.EqualTo(e["vox_offset"]!.GetValue<long>()));
        var scaled = Doubles(e["scaled"]);
        Assert.That(img.Data.Length, Is.EqualTo(scaled.Length));
        for (int i = 0; i < scaled.Length; i++)
            Assert.That(img.Data[i], Is.EqualTo((float)scaled[i]).Within(1e-6 * Math.Abs(scaled[i]) + 1e-6), $"{name}: voxel {i}");
    }

    [Test]
    public void IntegersAndLabelsReadExactly()
    {
        var e = Expected();
        // int32 extremes (±2^31) are not representable in float32: ReadInt32 keeps them exact.
        foreach (var name in new[] { "int32_le.nii", "int32_be.nii.gz", "four_d.nii" })
        {
            var raw = Doubles(e[name]!["raw"]);
            var img = NiftiReader.ReadInt32(Path.Combine(VectorDir, name));
            Assert.That(img.Data.Select(v => (double)v), Is.EqualTo(raw), name);
            Assert.That(raw.Any(v => (double)(float)v != v), Is.True, $"{name} must hold a value float32 cannot (else the test proves nothing)");
        }
        var labels = NiftiReader.ReadLabels(Path.Combine(VectorDir, "labels.nii.gz"));
        Assert.That(labels.Data.Select(v => (double)v), Is.EqualTo(Doubles(e["labels.nii.gz"]!["raw"])));
        Assert.That(labels.Data.Distinct().Order(), Is.EqualTo(new byte[] { 0, 1, 2 }));
    }

    [Test]
    public void LabelsFromAFloatVolumeAreRefused()
    {
        var path = Path.Combine(VectorDir, "float32_le.nii");
        var ex = Assert.Throws<InvalidDataException>(() => NiftiReader.ReadLabels(path))!;
        Assert.That(ex.Message, Does.Contain(path).And.Contain("not a whole number"));
    }

    [TestCaseSource(nameof(VectorFiles))]
    public void RoundTripsThroughOurWriter(string name)
    {
        var src = NiftiReader.Read<double>(Path.Combine(VectorDir, name));
        foreach (var type in new[] { NiftiDataType.Float64, NiftiDataType.Float32, src.Header.DataType })
            foreach (var ext in new[] { ".nii", ".nii.gz" })
            {
                var path = Path.Combine(_tmp, $"out-{type.Name()}{ext}");
                // Integer datatypes take values rounded half away from zero.
                double Stored(double v) => type.IsInteger() ? Math.Round(v, MidpointRounding.AwayFromZero) : type == NiftiDataType.Float32 ? (float)v : v;
                bool fits = src.Data.All(v => Stored(v) >= type.Range().Min && Stored(v) <= type.Range().Max);
                if (!fits)
                {
                    // A scaled integer file whose values left its type's range: the writer must say so.
                    Assert.Throws<ArgumentException>(() => NiftiWriter.Write(path, src, type), $"{name} as {type.Name()}");
                    Assert.That(File.Exists(path), Is.False, "a failed write leaves no file");
                    continue;
                }
                NiftiWriter.Write(path, src, type);
                var back = NiftiReader.Read<double>(path);
                Assert.That(back.Shape, Is.EqualTo(src.Shape));
                Assert.That(back.Spacing, Is.EqualTo(src.Spacing));
                Assert.That(back.Header.DataType, Is.EqualTo(type));
                Assert.That(back.Header.BigEndian, Is.False);
                Assert.That(back.Header.QFormCode, Is.EqualTo(src.Header.QFormCode));
                Assert.That(back.Header.SFormCode, Is.EqualTo(src.Header.SFormCode));
                Assert.That(back.Header.XyztUnits, Is.EqualTo(src.Header.XyztUnits));
                Assert.That(back.Header.Description, Is.EqualTo(src.Header.Description));
                Assert.That(back.Header.Dim, Is.EqualTo(src.Header.Dim));
                var a = src.Affine;
                var b = back.Affine;
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        Assert.That(b[i, j], Is.EqualTo(a[i, j]), $"affine[{i},{j}]");
                for (int i = 0; i < src.Data.Length; i++)
                {
                    double want = Stored(src.Data[i]);
                    Assert.That(back.Data[i], Is.EqualTo(want), $"{name} as {type.Name()}{ext}: voxel {i}");
                }
            }
    }

    [Test]
    public void CreateSetsAConsistentQformAndSform()
    {
        // A rotated, left-handed affine: the qform we derive must give back the same matrix.
        double c = Math.Cos(0.4), s = Math.Sin(0.4);
        var affine = new double[,] { { -0.8 * c, -0.7 * s, 0, 100 }, { -0.8 * s, 0.7 * c, 0, -50 }, { 0, 0, 2.5, 7 }, { 0, 0, 0, 1 } };
        var img = NiftiImage<float>.Create(new float[4 * 3 * 2], (4, 3, 2), (0.8, 0.7, 2.5), affine);
        Assert.That(img.Header.PixDim[0], Is.EqualTo(-1f), "left-handed: qfac -1");
        var q = img.Header.QFormAffine();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.That(q[i, j], Is.EqualTo(affine[i, j]).Within(1e-5), $"qform[{i},{j}]");
        Assert.That(img.Spacing.X, Is.EqualTo(0.8).Within(1e-7));
        Assert.That(img.Spacing.Z, Is.EqualTo(2.5).Within(1e-7));
    }

    [Test]
    public void WriteLikeCopiesTheReferenceGeometry()
    {
        var reference = NiftiReader.Read(Path.Combine(VectorDir, "int16_be.nii"));
        var labels = new byte[reference.Data.Length];
        for (int i = 0; i < labels.Length; i++) labels[i] = (byte)(i % 3);
        var path = Path.Combine(_tmp, "segmentation-0.nii.gz");
        NiftiWriter.WriteLike(path, reference, labels, NiftiDataType.UInt8);
        var back = NiftiReader.ReadLabels(path);
        Assert.That(back.Data, Is.EqualTo(labels));
        Assert.That(back.Shape, Is.EqualTo(reference.Shape));
        Assert.That(back.Spacing, Is.EqualTo(reference.Spacing));
        Assert.That(back.Affine, Is.EqualTo(reference.Affine));
        Assert.Throws<ArgumentException>(() => NiftiWriter.WriteLike(path, reference, new byte[5], NiftiDataType.UInt8));
    }

    [Test]
    public void WriterRefusesValuesOutsideTheDatatype()
    {
        var img = NiftiImage<float>.Create([0, 1, 300, 2], (2, 2, 1), (1, 1, 1));
        var path = Path.Combine(_tmp, "bad.nii");
        var ex = Assert.Throws<ArgumentException>(() => NiftiWriter.Write(path, img, NiftiDataType.UInt8))!;
        Assert.That(ex.Message, Does.Contain("voxel 2").And.Contain("uint8"));
        img.Data[2] = float.NaN;
        Assert.Throws<ArgumentException>(() => NiftiWriter.Write(path, img, NiftiDataType.Int16));
        Assert.That(File.Exists(path), Is.False);
        img.Data[2] = 2.5f; // rounds half away from zero
        NiftiWriter.Write(path, img, NiftiDataType.Int16);
        Assert.That(NiftiReader.ReadInt32(path).Data, Is.EqualTo(new[] { 0, 1, 3, 2 }));
    }

    /// <summary>Writes one file per datatype, plain and gzip, with a rotated left-handed affine and
    /// written.json describing them. With NIFTI_EXPORT_DIR set, into that folder, for
    /// `scripts/vectors/nifti.py --check DIR` (nibabel reads them back).</summary>
    [Test]
    public void WriterFilesForNibabel()
    {
        var dir = Environment.GetEnvironmentVariable("NIFTI_EXPORT_DIR") is { Length: > 0 } d ? d : _tmp;
        Directory.CreateDirectory(dir);
        double c = Math.Cos(0.3), s = Math.Sin(0.3);
        var affine = new double[,] { { 0.8 * c, -0.8 * s, 0, -200 }, { 0.8 * s, 0.8 * c, 0, 10 }, { 0, 0, -2.5, 55 }, { 0, 0, 0, 1 } };
        var shape = (X: 7, Y: 6, Z: 5);
        var written = new JsonObject();
        var rng = new Random(5);
        foreach (var type in Enum.GetValues<NiftiDataType>())
            foreach (var ext in new[] { ".nii", ".nii.gz" })
            {
                var (lo, hi) = type.Range();
                var data = new double[shape.X * shape.Y * shape.Z];
                for (int i = 0; i < data.Length; i++)
                {
                    double v = Math.Round(rng.NextDouble() * 2000 - 1000, type.IsInteger() ? 0 : 3);
                    data[i] = type.IsInteger() ? Math.Clamp(v, lo, hi) : v;
                }
                if (type.IsInteger()) { data[0] = lo; data[^1] = hi; }
                var img = NiftiImage<double>.Create(data, shape, (0.8, 0.8, 2.5), affine);
                img.Header.Description = $"kernels {type.Name()}";
                var name = $"ours_{type.Name()}{ext}";
                NiftiWriter.Write(Path.Combine(dir, name), img, type);
                var back = NiftiReader.Read<double>(Path.Combine(dir, name));
                var expected = type == NiftiDataType.Float32 ? data.Select(v => (double)(float)v).ToArray() : data;
                Assert.That(back.Data, Is.EqualTo(expected), name);
                written[name] = new JsonObject
                {
                    ["shape"] = new JsonArray(shape.X, shape.Y, shape.Z),
                    ["datatype"] = (int)type,
                    ["spacing"] = new JsonArray(0.8, 0.8, 2.5),
                    ["affine"] = new JsonArray(Enumerable.Range(0, 4).Select(i => (JsonNode)new JsonArray(Enumerable.Range(0, 4).Select(j => (JsonNode)affine[i, j]).ToArray())).ToArray()),
                    ["values"] = new JsonArray(expected.Select(v => (JsonNode)v).ToArray()),
                };
            }
        File.WriteAllText(Path.Combine(dir, "written.json"), written.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        Assert.That(Directory.GetFiles(dir, "ours_*").Length, Is.EqualTo(14));
    }

    // ---- hostile input ----

    private string Patched(string source, Action<byte[]> patch, string name = "bad.nii")
    {
        var bytes = File.ReadAllBytes(Path.Combine(VectorDir, source));
        patch(bytes);
        var path = Path.Combine(_tmp, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void Gzip(string path, byte[] content)
    {
        using var f = File.Create(path);
        using var z = new GZipStream(f, CompressionLevel.Fastest);
        z.Write(content);
    }

    private static InvalidDataException Refused(string path, params string[] fragments) => Refused(path, true, fragments);

    /// <summary>Read refuses the file with an error naming it and the fields, without allocating
    /// much; with <paramref name="headerRefusedToo"/>, ReadHeader refuses it as well.</summary>
    private static InvalidDataException Refused(string path, bool headerRefusedToo, params string[] fragments)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<InvalidDataException>(() => NiftiReader.Read(path))!;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(ex.Message, Does.Contain(path), "the error names the file");
        foreach (var f in fragments) Assert.That(ex.Message, Does.Contain(f), "the error names the field");
        Assert.That(allocated, Is.LessThan(16 << 20), "refused before any large allocation");
        if (headerRefusedToo) Assert.Throws<InvalidDataException>(() => NiftiReader.ReadHeader(path));
        return ex;
    }

    private static void SetI16(byte[] b, int offset, short v) => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(offset), v);

    [Test]
    public void TruncatedFilesAreRefused()
    {
        var full = File.ReadAllBytes(Path.Combine(VectorDir, "int16_le.nii"));
        var path = Path.Combine(_tmp, "short.nii");
        File.WriteAllBytes(path, full[..^7]);
        Refused(path, "truncated", "claims");
        File.WriteAllBytes(path, full[..200]);
        Refused(path, "truncated", "348");
        File.WriteAllBytes(path, []);
        Refused(path, "truncated");
        var gz = Path.Combine(_tmp, "short.nii.gz");
        Gzip(gz, full[..^7]);
        // A gzip file cannot be checked against its length up front: the read stops where the data does.
        var ex = Assert.Throws<InvalidDataException>(() => NiftiReader.Read(gz))!;
        Assert.That(ex.Message, Does.Contain(gz).And.Contain("truncated"));
        // A gzip stream cut mid-way (not at a member boundary).
        var zipped = File.ReadAllBytes(Path.Combine(VectorDir, "int16_le.nii.gz"));
        File.WriteAllBytes(gz, zipped[..(zipped.Length / 2)]);
        Assert.That(Assert.Throws<InvalidDataException>(() => NiftiReader.Read(gz))!.Message, Does.Contain(gz));
        // A flipped bit in the deflate data (a CRC or block error from GZipStream) still names the file.
        var flipped = (byte[])zipped.Clone();
        flipped[^9] ^= 0xff;
        File.WriteAllBytes(gz, flipped);
        Assert.That(Assert.Throws<InvalidDataException>(() => NiftiReader.Read(gz))!.Message, Does.Contain(gz));
    }

    [Test]
    public void BadHeaderFieldsAreRefused()
    {
        Refused(Patched("int16_le.nii", b => BinaryPrimitives.WriteInt32LittleEndian(b, 349)), "sizeof_hdr");
        Refused(Patched("int16_le.nii", b => BinaryPrimitives.WriteInt32LittleEndian(b, 540)), "sizeof_hdr = 540", "NIfTI-2");
        Refused(Patched("int16_le.nii", b => { SetI16(b, 70, 17); }), "datatype = 17");
        Refused(Patched("int16_le.nii", b => { SetI16(b, 70, 32); SetI16(b, 72, 64); }), "datatype = 32");
        Refused(Patched("int16_le.nii", b => SetI16(b, 72, 8)), "bitpix = 8");
        Refused(Patched("int16_le.nii", b => SetI16(b, 40, 0)), "dim[0] = 0");
        Refused(Patched("int16_le.nii", b => SetI16(b, 40, 8)), "dim[0] = 8");
        Refused(Patched("int16_le.nii", b => SetI16(b, 44, -4)), "dim[2] = -4");
        Refused(Patched("int16_le.nii", b => { SetI16(b, 40, 4); SetI16(b, 48, 2); }), "dim[4] = 2");
        Refused(Patched("int16_le.nii", b => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(108), 100f)), "vox_offset = 100");
        Refused(Patched("int16_le.nii", b => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(108), 1e30f)), "vox_offset = 1E+30");
        Refused(Patched("int16_le.nii", b => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(108), 400.5f)), "vox_offset = 400.5");
        Refused(Patched("int16_le.nii", b => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(80), float.NaN)), "pixdim[1] = NaN");
        Refused(Patched("int16_le.nii", b => b[345] = (byte)'i'), "magic");
        Refused(Patched("int16_le.nii", b => { b[345] = (byte)'i'; b[346] = (byte)'1'; }), "ni1");
        // One voxel too many along z: the sizes no longer fit the bytes.
        Refused(Patched("int16_le.nii", b => SetI16(b, 46, 4)), "claims", "file has");
    }

    [Test]
    public void AHeaderClaimingGigabytesIsRefusedUpFront()
    {
        // 2000×2000×500 int16 voxels = 4 GB claimed by a 472-byte file; 32767³ is more than an array holds.
        var path = Patched("int16_le.nii", b => { SetI16(b, 42, 2000); SetI16(b, 44, 2000); SetI16(b, 46, 500); });
        Refused(path, "claims", "file has");
        var huge = Patched("int16_le.nii", b => { SetI16(b, 42, 32767); SetI16(b, 44, 32767); SetI16(b, 46, 32767); }, "huge.nii");
        Refused(huge, "voxels");
        // The same header gzipped: a 2-GB claim from a tiny gzip cannot be real.
        var bytes = File.ReadAllBytes(path);
        var gz = Path.Combine(_tmp, "claim.nii.gz");
        Gzip(gz, bytes);
        Refused(gz, "claims", "gzip");
    }

    [Test]
    public void AGzipBombIsRefused()
    {
        // A valid 60-voxel header followed by 8 MB of zeros that compress to a few kB.
        var header = File.ReadAllBytes(Path.Combine(VectorDir, "int16_le.nii"));
        var content = new byte[8 << 20];
        header.CopyTo(content, 0);
        var gz = Path.Combine(_tmp, "bomb.nii.gz");
        Gzip(gz, content);
        Assert.That(new FileInfo(gz).Length, Is.LessThan(100_000));
        // Only reading the data finds a bomb; the header itself is fine.
        Refused(gz, false, "more than", "claims");
    }

    [Test]
    public void MissingFileIsAFileNotFoundError()
    {
        var path = Path.Combine(_tmp, "nope.nii");
        var ex = Assert.Throws<FileNotFoundException>(() => NiftiReader.Read(path))!;
        Assert.That(ex.Message, Does.Contain(path));
    }
}
