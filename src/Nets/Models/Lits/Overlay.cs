using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Kernels.Nets.Models.Lits;

/// <summary>A minimal PNG writer (8-bit RGB, one zlib IDAT) and the validation overlay: an axial
/// slice in grey with the reference contours (liver green, tumour yellow) and the predicted ones
/// (liver red, tumour magenta), magnified.</summary>
public static class Overlay
{
    /// <summary>Writes an RGB image (rgb = 3 bytes per pixel, rows top to bottom) as PNG, via a
    /// temporary file and a rename.</summary>
    public static void WritePng(string path, byte[] rgb, int width, int height)
    {
        if (width <= 0 || height <= 0 || rgb.Length != 3L * width * height)
            throw new ArgumentException($"WritePng {path}: {rgb.Length} bytes do not make a {width}×{height} RGB image");
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
            for (int y = 0; y < height; y++)
            {
                z.WriteByte(0); // filter: none
                z.Write(rgb, y * width * 3, width * 3);
            }
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // colour type RGB
        var tmp = $"{Path.GetFullPath(path)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var fs = File.Create(tmp))
            {
                fs.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
                Chunk(fs, "IHDR", ihdr);
                Chunk(fs, "IDAT", raw.ToArray());
                Chunk(fs, "IEND", []);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        var t = Encoding.ASCII.GetBytes(type);
        s.Write(t);
        s.Write(data);
        uint crc = Crc32(Crc32(0xFFFFFFFFu, t), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        s.Write(word);
    }

    private static readonly uint[] s_crcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>PNG's CRC-32 (running value, not inverted).</summary>
    internal static uint Crc32(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data) crc = s_crcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    /// <summary>The slice with the most reference tumour (else liver) voxels; the middle slice when both are absent.</summary>
    public static int BestSlice(byte[] reference, int[] dims)
    {
        long plane = (long)dims[1] * dims[2];
        int best = dims[0] / 2;
        long bestScore = 0;
        for (int z = 0; z < dims[0]; z++)
        {
            long score = 0;
            for (long i = z * plane; i < (z + 1) * plane; i++)
                score += reference[i] == 2 ? 1000 : reference[i] == 1 ? 1 : 0;
            if (score > bestScore) { bestScore = score; best = z; }
        }
        return best;
    }

    /// <summary>Renders slice <paramref name="z"/> of a case with both contour sets and writes it as PNG.</summary>
    public static void WriteSlice(string path, float[] image, byte[] reference, byte[] predicted, int[] dims, int z, int scale = 3)
    {
        int h = dims[1], w = dims[2];
        long plane = (long)h * w, off = z * plane;
        float lo = float.MaxValue, hi = float.MinValue;
        for (long i = off; i < off + plane; i++) { lo = Math.Min(lo, image[i]); hi = Math.Max(hi, image[i]); }
        float range = hi > lo ? hi - lo : 1;
        int W = w * scale, H = h * scale;
        var rgb = new byte[3L * W * H];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                byte g = (byte)Math.Clamp((image[off + (long)(y / scale) * w + x / scale] - lo) / range * 255, 0, 255);
                long p = 3L * ((long)y * W + x);
                rgb[p] = rgb[p + 1] = rgb[p + 2] = g;
            }
        // Predicted first, reference on top where they coincide.
        Contour(rgb, predicted, off, h, w, scale, 1, (255, 40, 40));
        Contour(rgb, predicted, off, h, w, scale, 2, (255, 0, 255));
        Contour(rgb, reference, off, h, w, scale, 1, (40, 220, 40));
        Contour(rgb, reference, off, h, w, scale, 2, (255, 230, 0));
        WritePng(path, rgb, W, H);
    }

    /// <summary>Colours the boundary pixels (in the mask, with a 4-neighbour outside it) of label ≥ minLabel.</summary>
    private static void Contour(byte[] rgb, byte[] labels, long off, int h, int w, int scale, int minLabel, (byte R, byte G, byte B) colour)
    {
        bool In(int y, int x) => y >= 0 && y < h && x >= 0 && x < w && labels[off + (long)y * w + x] >= minLabel;
        int W = w * scale;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                if (!In(y, x) || (In(y - 1, x) && In(y + 1, x) && In(y, x - 1) && In(y, x + 1))) continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++)
                    {
                        long p = 3L * ((long)(y * scale + dy) * W + x * scale + dx);
                        rgb[p] = colour.R; rgb[p + 1] = colour.G; rgb[p + 2] = colour.B;
                    }
            }
    }
}
