using Kernels.Nets;
using Kernels.Nets.Imaging;

namespace Kernels.Tests.Data;

public class ImageFileTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("imagefile-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static float[] RandomBytesImage(int w, int h, ulong seed)
    {
        var rng = new Rng(seed);
        var rgb = new float[3 * w * h];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = rng.NextInt(256) / 255f;
        return rgb;
    }

    [Test]
    public void PngRoundTripIsExact()
    {
        var rgb = RandomBytesImage(13, 7, 1);
        var path = Path.Combine(_dir, "a.png");
        ImageFile.WritePng(path, rgb, 13, 7);
        Assert.That(ImageFile.ReadSize(path), Is.EqualTo((13, 7)));
        var (back, w, h) = ImageFile.Load(path);
        Assert.That((w, h), Is.EqualTo((13, 7)));
        Assert.That(back, Is.EqualTo(rgb), "8-bit values survive PNG exactly");
    }

    [Test]
    public void SquishKeepsLayoutWithoutCropping()
    {
        // 40×20: left half red, right half blue. Squished to 10×10 the halves stay halves (no crop,
        // no aspect-preserving letterbox) and every row is the same.
        int w = 40, h = 20, plane = w * h;
        var rgb = new float[3 * plane];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                rgb[(x < 20 ? 0 : 2) * plane + y * w + x] = 1f;
        var path = Path.Combine(_dir, "halves.png");
        ImageFile.WritePng(path, rgb, w, h);
        var s = ImageFile.LoadSquished(path, 10);
        Assert.That(s, Has.Length.EqualTo(3 * 100));
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 10; x++)
            {
                Assert.That(s[y * 10 + x], Is.EqualTo(x < 5 ? 1f : 0f).Within(1e-6), $"red at ({x}, {y})");
                Assert.That(s[100 + y * 10 + x], Is.EqualTo(0f).Within(1e-6));
                Assert.That(s[200 + y * 10 + x], Is.EqualTo(x < 5 ? 0f : 1f).Within(1e-6), $"blue at ({x}, {y})");
            }
    }

    [Test]
    public void ShrinkingAveragesAndEnlargingInterpolates()
    {
        // A one-pixel checkerboard halved in size becomes flat grey (area average, no aliasing).
        int n = 16;
        var src = new float[3 * n * n];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < n; y++)
                for (int x = 0; x < n; x++)
                    src[c * n * n + y * n + x] = (x + y) % 2;
        var dst = new float[3 * 8 * 8];
        ImageFile.Resize(src, n, n, dst, 8, 8);
        Assert.That(dst, Is.All.EqualTo(0.5f).Within(1e-6));
        // Non-integer shrink of a constant stays constant (weights sum to 1).
        var flat = Enumerable.Repeat(0.3f, 3 * 17 * 11).ToArray();
        var out5 = new float[3 * 7 * 5];
        ImageFile.Resize(flat, 17, 11, out5, 5, 7);
        Assert.That(out5, Is.All.EqualTo(0.3f).Within(1e-6));
        // Enlarging a 2-pixel ramp: linear between the pixel centres, clamped at the edges.
        var ramp = new float[] { 0, 1, 0, 1, 0, 1 }; // [3, 1, 2]
        var up = new float[3 * 4];
        ImageFile.Resize(ramp, 2, 1, up, 4, 1);
        Assert.That(up.AsSpan(0, 4).ToArray(), Is.EqualTo(new[] { 0f, 0.25f, 0.75f, 1f }).Within(1e-6));
    }

    [Test]
    public void JpegDecodesCloseToWhatWasWritten()
    {
        // A smooth image (JPEG is lossy on noise) large enough for the codec's scaled decode.
        int w = 320, h = 200, plane = w * h;
        var rgb = new float[3 * plane];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                rgb[y * w + x] = x / (float)w;
                rgb[plane + y * w + x] = y / (float)h;
                rgb[2 * plane + y * w + x] = 0.5f;
            }
        var path = Path.Combine(_dir, "smooth.jpg");
        ImageFile.WriteJpeg(path, rgb, w, h, 95);
        var expected = new float[3 * 32 * 32];
        ImageFile.Resize(rgb, w, h, expected, 32, 32);
        var got = ImageFile.LoadSquished(path, 32);
        double worst = 0;
        for (int i = 0; i < got.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - expected[i]));
        Assert.That(worst, Is.LessThan(0.04), "squished JPEG against the squished original");
        Assert.That(got, Is.All.InRange(0f, 1f));
    }

    [Test]
    public void MissingFileIsNamed()
    {
        var path = Path.Combine(_dir, "nope.png");
        var e = Assert.Throws<FileNotFoundException>(() => ImageFile.LoadSquished(path, 8))!;
        Assert.That(e.Message, Does.Contain(path));
    }

    [Test]
    public void CorruptAndEmptyFilesAreNamed()
    {
        var junk = Path.Combine(_dir, "junk.jpg");
        File.WriteAllBytes(junk, Enumerable.Range(0, 500).Select(i => (byte)(i * 37 + 11)).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => ImageFile.LoadSquished(junk, 8))!;
        Assert.That(e.Message, Does.Contain(junk).And.Contain("not a decodable image"));
        var empty = Path.Combine(_dir, "empty.png");
        File.WriteAllBytes(empty, []);
        e = Assert.Throws<InvalidDataException>(() => ImageFile.Load(empty))!;
        Assert.That(e.Message, Does.Contain(empty).And.Contain("empty"));
    }

    [TestCase("png")]
    [TestCase("jpg")]
    public void TruncatedFileIsNamed(string ext)
    {
        var rgb = RandomBytesImage(64, 64, 3);
        var path = Path.Combine(_dir, $"whole.{ext}");
        if (ext == "png") ImageFile.WritePng(path, rgb, 64, 64);
        else ImageFile.WriteJpeg(path, rgb, 64, 64);
        var bytes = File.ReadAllBytes(path);
        var cut = Path.Combine(_dir, $"cut.{ext}");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => ImageFile.LoadSquished(cut, 16))!;
        Assert.That(e.Message, Does.Contain(cut).And.Contain("truncated").Or.Contain("corrupt"));
    }

    [Test]
    public void HugeDimensionsAreRefusedBeforeDecoding()
    {
        // A valid PNG whose header claims 100000 × 3 pixels (IHDR rewritten, CRC recomputed).
        var path = Path.Combine(_dir, "small.png");
        ImageFile.WritePng(path, RandomBytesImage(4, 3, 5), 4, 3);
        var png = File.ReadAllBytes(path);
        Assert.That(System.Text.Encoding.ASCII.GetString(png, 12, 4), Is.EqualTo("IHDR"));
        WriteBigEndian(png, 16, 100_000);
        WriteBigEndian(png, 29, Crc32(png.AsSpan(12, 17)));
        var huge = Path.Combine(_dir, "huge.png");
        File.WriteAllBytes(huge, png);
        var e = Assert.Throws<InvalidDataException>(() => ImageFile.LoadSquished(huge, 8))!;
        Assert.That(e.Message, Does.Contain(huge).And.Contain("100000×3"));
    }

    [Test]
    public void BadArgumentsAreRefused()
    {
        var path = Path.Combine(_dir, "x.png");
        Assert.Throws<ArgumentException>(() => ImageFile.WritePng(path, new float[10], 2, 2));
        ImageFile.WritePng(path, new float[12], 2, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageFile.LoadSquished(path, 0));
        Assert.Throws<ArgumentException>(() => ImageFile.LoadSquished(path, 4, new float[10]));
    }

    private static void WriteBigEndian(byte[] b, int at, uint v)
    {
        b[at] = (byte)(v >> 24);
        b[at + 1] = (byte)(v >> 16);
        b[at + 2] = (byte)(v >> 8);
        b[at + 3] = (byte)v;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
