using System.Runtime.InteropServices;
using SkiaSharp;

namespace Kernels.Nets.Imaging;

/// <summary>Image files for the multi-label models, decoded and encoded with SkiaSharp.
///
/// Reading gives float RGB in [0, 1] (byte / 255, no mean/std normalisation: the ML-Decoder
/// recipe's input), planar [3, H, W] row-major. <see cref="LoadSquished"/> resizes to S×S without
/// keeping the aspect ratio and without cropping (the paper's "squish"): a separable filter that
/// averages the covered source area when shrinking (no aliasing) and interpolates linearly when
/// enlarging. JPEGs much larger than S are decoded at a reduced scale by the codec first (1/2,
/// 1/4, 1/8, never below S), which is much faster and changes little after the area average.
/// Alpha is ignored (pixels are taken unpremultiplied); grey and CMYK files come back as RGB.
///
/// Errors name the file: a missing file (<see cref="FileNotFoundException"/>), a file that is not
/// a decodable image, a truncated or corrupt one, or one over <see cref="MaxSide"/> pixels a side
/// or <see cref="MaxPixels"/> pixels in all (<see cref="InvalidDataException"/>; the size is read
/// from the header before any pixel is decoded).</summary>
public static class ImageFile
{
    /// <summary>Largest accepted width or height.</summary>
    public const int MaxSide = 16384;

    /// <summary>Largest accepted width × height (the RGBA decode takes 4 bytes a pixel).</summary>
    public const long MaxPixels = 64L * 1024 * 1024;

    /// <summary>Width and height from the file's header, without decoding pixels.</summary>
    public static (int Width, int Height) ReadSize(string path)
    {
        using var opened = OpenCodec(path);
        return (opened.Codec.Info.Width, opened.Codec.Info.Height);
    }

    /// <summary>The whole image at its own size: [3, H, W] in [0, 1].</summary>
    public static (float[] Rgb, int Width, int Height) Load(string path)
    {
        using var opened = OpenCodec(path);
        var codec = opened.Codec;
        var (rgba, w, h) = DecodeRgba(codec, path, codec.Info.Width, codec.Info.Height);
        var rgb = new float[3L * w * h];
        ToPlanar(rgba, w, h, rgb);
        return (rgb, w, h);
    }

    /// <summary>The image squished to <paramref name="size"/>×<paramref name="size"/>: [3, S, S] in [0, 1].</summary>
    public static float[] LoadSquished(string path, int size)
    {
        var dst = new float[3L * size * size];
        LoadSquished(path, size, dst);
        return dst;
    }

    /// <summary>Decodes <paramref name="path"/> squished to S×S into <paramref name="dst"/> [3, S, S].</summary>
    public static void LoadSquished(string path, int size, Span<float> dst)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "ImageFile.LoadSquished: size must be positive");
        if (dst.Length != 3L * size * size)
            throw new ArgumentException($"ImageFile.LoadSquished: destination has {dst.Length} values, expected [3, {size}, {size}]", nameof(dst));
        using var opened = OpenCodec(path);
        var codec = opened.Codec;
        var (w, h) = (codec.Info.Width, codec.Info.Height);
        // The codec's scaled decode (JPEG: 1/2 … 1/8) when both sides stay at least S.
        if (codec.EncodedFormat == SKEncodedImageFormat.Jpeg)
            for (float scale = 0.125f; scale < 1f; scale *= 2f)
            {
                var d = codec.GetScaledDimensions(scale);
                if (d.Width >= size && d.Height >= size && d.Width < w)
                {
                    (w, h) = (d.Width, d.Height);
                    break;
                }
            }
        var (rgba, dw, dh) = DecodeRgba(codec, path, w, h);
        var full = new float[3L * dw * dh];
        ToPlanar(rgba, dw, dh, full);
        Resize(full, dw, dh, dst, size, size);
    }

    /// <summary>Resizes planar [3, h, w] to [3, dh, dw] (area average when shrinking, linear when enlarging).</summary>
    public static void Resize(ReadOnlySpan<float> src, int w, int h, Span<float> dst, int dw, int dh)
    {
        if (w <= 0 || h <= 0 || dw <= 0 || dh <= 0)
            throw new ArgumentOutOfRangeException(nameof(w), $"ImageFile.Resize: sizes {w}×{h} → {dw}×{dh} must be positive");
        if (src.Length != 3L * w * h || dst.Length != 3L * dw * dh)
            throw new ArgumentException($"ImageFile.Resize: buffers of {src.Length} and {dst.Length} values do not match [3, {h}, {w}] → [3, {dh}, {dw}]");
        var wx = Weights(w, dw);
        var wy = Weights(h, dh);
        var tmp = new float[h * dw]; // one channel after the horizontal pass
        for (int ch = 0; ch < 3; ch++)
        {
            var plane = src.Slice(ch * w * h, w * h);
            for (int y = 0; y < h; y++)
                Apply(wx, plane.Slice(y * w, w), 1, tmp.AsSpan(y * dw, dw), 1);
            var outPlane = dst.Slice(ch * dw * dh, dw * dh);
            for (int x = 0; x < dw; x++)
                ApplyColumn(wy, tmp, dw, x, outPlane, dh);
        }
    }

    /// <summary>Writes planar RGB [3, H, W] in [0, 1] (clamped, rounded to bytes) as an opaque PNG.</summary>
    public static void WritePng(string path, ReadOnlySpan<float> rgb, int width, int height) =>
        Write(path, rgb, width, height, SKEncodedImageFormat.Png, 100);

    /// <summary>Writes planar RGB [3, H, W] in [0, 1] as a JPEG of the given quality (tests and fixtures).</summary>
    public static void WriteJpeg(string path, ReadOnlySpan<float> rgb, int width, int height, int quality = 90) =>
        Write(path, rgb, width, height, SKEncodedImageFormat.Jpeg, quality);

    private static void Write(string path, ReadOnlySpan<float> rgb, int width, int height, SKEncodedImageFormat format, int quality)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (width <= 0 || height <= 0 || width > MaxSide || height > MaxSide)
            throw new ArgumentOutOfRangeException(nameof(width), $"ImageFile: {path}: size {width}×{height} outside 1 to {MaxSide} a side");
        if (rgb.Length != 3L * width * height)
            throw new ArgumentException($"ImageFile: {path}: {rgb.Length} values, expected [3, {height}, {width}]", nameof(rgb));
        int plane = width * height;
        var bytes = new byte[4 * plane];
        for (int p = 0; p < plane; p++)
        {
            bytes[4 * p] = ToByte(rgb[p]);
            bytes[4 * p + 1] = ToByte(rgb[plane + p]);
            bytes[4 * p + 2] = ToByte(rgb[2 * plane + p]);
            bytes[4 * p + 3] = 255;
        }
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        Marshal.Copy(bytes, 0, bitmap.GetPixels(), bytes.Length);
        using var data = bitmap.Encode(format, quality)
            ?? throw new InvalidOperationException($"ImageFile: SkiaSharp could not encode {path} as {format}");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        data.SaveTo(stream);
    }

    private static byte ToByte(float v) => float.IsNaN(v) ? (byte)0 : (byte)MathF.Round(Math.Clamp(v, 0f, 1f) * 255f);

    /// <summary>A codec and the encoded bytes it reads; both are released together (the bytes
    /// live in native memory, which the garbage collector does not see).</summary>
    private readonly record struct OpenedImage(SKCodec Codec, SKData Data) : IDisposable
    {
        public void Dispose()
        {
            Codec.Dispose();
            Data.Dispose();
        }
    }

    private static OpenedImage OpenCodec(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"image {path} does not exist", path);
        // SKCodec reads from the stream lazily; a copy in memory keeps the file closed after this call.
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new InvalidDataException($"image {path}: cannot read it ({e.Message})", e);
        }
        if (bytes.Length == 0) throw new InvalidDataException($"image {path}: the file is empty");
        var data = SKData.CreateCopy(bytes);
        var codec = SKCodec.Create(data);
        if (codec is null)
        {
            data.Dispose();
            throw new InvalidDataException($"image {path}: not a decodable image (expected JPEG or PNG; the header is not recognised or is corrupt)");
        }
        var (w, h) = (codec.Info.Width, codec.Info.Height);
        if (w <= 0 || h <= 0 || w > MaxSide || h > MaxSide || (long)w * h > MaxPixels)
        {
            codec.Dispose();
            data.Dispose();
            throw new InvalidDataException(
                $"image {path}: {w}×{h} pixels is outside the accepted size (1 to {MaxSide} a side, at most {MaxPixels:N0} pixels)");
        }
        return new OpenedImage(codec, data);
    }

    private static (byte[] Rgba, int Width, int Height) DecodeRgba(SKCodec codec, string path, int w, int h)
    {
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[4L * w * h];
        var handle = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        SKCodecResult result;
        try
        {
            result = codec.GetPixels(info, handle.AddrOfPinnedObject());
        }
        finally
        {
            handle.Free();
        }
        return result switch
        {
            SKCodecResult.Success => (rgba, w, h),
            SKCodecResult.IncompleteInput => throw new InvalidDataException($"image {path}: the file is truncated (decoding stopped before the last row)"),
            SKCodecResult.ErrorInInput => throw new InvalidDataException($"image {path}: the image data is corrupt"),
            _ => throw new InvalidDataException($"image {path}: SkiaSharp could not decode it ({result})"),
        };
    }

    // b / 255 exactly as a float division gives it, so values written as bytes read back bit-equal.
    private static readonly float[] s_byteToUnit = Enumerable.Range(0, 256).Select(b => b / 255f).ToArray();

    private static void ToPlanar(byte[] rgba, int w, int h, Span<float> rgb)
    {
        int plane = w * h;
        var lut = s_byteToUnit;
        for (int p = 0; p < plane; p++)
        {
            rgb[p] = lut[rgba[4 * p]];
            rgb[plane + p] = lut[rgba[4 * p + 1]];
            rgb[2 * plane + p] = lut[rgba[4 * p + 2]];
        }
    }

    /// <summary>For each output index, the source indices (First .. First + Count) and their weights (sum 1).</summary>
    private sealed record FilterTaps(int[] First, int[] Count, float[] W, int Stride);

    private static FilterTaps Weights(int n, int dn)
    {
        double scale = (double)n / dn;
        int stride = scale > 1 ? (int)Math.Ceiling(scale) + 2 : 2;
        var first = new int[dn];
        var count = new int[dn];
        var w = new float[dn * stride];
        for (int o = 0; o < dn; o++)
        {
            if (scale > 1)
            {
                // Area average: source pixel i covers [i, i+1); output o covers [o·scale, (o+1)·scale).
                double a = o * scale, b = (o + 1) * scale;
                int i0 = (int)Math.Floor(a), i1 = Math.Min(n, (int)Math.Ceiling(b));
                first[o] = i0;
                count[o] = i1 - i0;
                for (int i = i0; i < i1; i++)
                    w[o * stride + i - i0] = (float)((Math.Min(b, i + 1) - Math.Max(a, i)) / scale);
            }
            else
            {
                // Linear interpolation at the output pixel's centre, edges clamped.
                double c = (o + 0.5) * scale - 0.5;
                int i0 = (int)Math.Floor(c);
                double f = c - i0;
                int lo = Math.Clamp(i0, 0, n - 1), hi = Math.Clamp(i0 + 1, 0, n - 1);
                first[o] = lo;
                count[o] = hi == lo ? 1 : 2;
                if (hi == lo) w[o * stride] = 1f;
                else
                {
                    w[o * stride] = (float)(1 - f);
                    w[o * stride + 1] = (float)f;
                }
            }
        }
        return new FilterTaps(first, count, w, stride);
    }

    private static void Apply(FilterTaps t, ReadOnlySpan<float> src, int srcStep, Span<float> dst, int dstStep)
    {
        for (int o = 0; o < t.First.Length; o++)
        {
            float sum = 0;
            int f = t.First[o], baseW = o * t.Stride;
            for (int k = 0; k < t.Count[o]; k++) sum += t.W[baseW + k] * src[(f + k) * srcStep];
            dst[o * dstStep] = sum;
        }
    }

    private static void ApplyColumn(FilterTaps t, float[] tmp, int dw, int x, Span<float> dst, int dh)
    {
        for (int o = 0; o < dh; o++)
        {
            float sum = 0;
            int f = t.First[o], baseW = o * t.Stride;
            for (int k = 0; k < t.Count[o]; k++) sum += t.W[baseW + k] * tmp[(f + k) * dw + x];
            dst[o * dw + x] = sum;
        }
    }
}
