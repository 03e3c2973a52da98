using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;

namespace Kernels.Nets.Data.Nifti;

/// <summary>Reads single-file NIfTI-1 images (.nii, and gzip-compressed .nii.gz, recognised by
/// content), either byte order. Hostile input is refused before any large allocation: the claimed
/// data size is checked against the file's length (for gzip, against the most a deflate stream of
/// that length can expand to), the voxel buffer of a gzip file grows only as data arrives, and at
/// most the claimed size + 1 bytes are ever decompressed.</summary>
public static class NiftiReader
{
    private const int ChunkBytes = 1 << 20;
    /// <summary>Deflate's best case is about 1032:1; a header claiming more than this than the
    /// compressed file can hold is refused up front.</summary>
    private const long MaxDeflateRatio = 1032;

    /// <summary>Intensities as float (scl_slope / scl_inter applied).</summary>
    public static NiftiImage<float> Read(string path) => Read<float>(path);

    /// <summary>A label map as bytes: every (scaled) value must be an integer in 0..255, else an error names the voxel.</summary>
    public static NiftiImage<byte> ReadLabels(string path) => Read<byte>(path);

    /// <summary>Integer values exactly (no float rounding): every (scaled) value must be an int32.</summary>
    public static NiftiImage<int> ReadInt32(string path) => Read<int>(path);

    /// <summary>The header only (checked like a full read's header, data size against the file included).</summary>
    public static NiftiHeader ReadHeader(string path)
    {
        using var f = Open(path, out var stream, out bool gz);
        using var _ = gz ? stream : null;
        var h = ReadAndCheckHeader(stream, f.Length, gz, path);
        return h;
    }

    /// <summary>Reads into T = float, double, int, short or byte. Integer T requires every value
    /// (after scaling) to be a whole number in T's range.</summary>
    public static NiftiImage<T> Read<T>(string path) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double) && typeof(T) != typeof(int) && typeof(T) != typeof(short) && typeof(T) != typeof(byte))
            throw new NotSupportedException($"NiftiReader.Read<{typeof(T).Name}>: use float, double, int, short or byte");
        try
        {
            return ReadData<T>(path);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            // GZipStream's own errors (bad CRC, corrupt block) do not name the file.
            throw new InvalidDataException($"{path}: corrupt gzip stream: {e.Message}", e);
        }
    }

    private static NiftiImage<T> ReadData<T>(string path) where T : unmanaged
    {
        using var f = Open(path, out var stream, out bool gz);
        using var _ = gz ? stream : null;
        var h = ReadAndCheckHeader(stream, f.Length, gz, path);
        long n = h.VoxelCount;
        long offset = (long)h.VoxOffset;
        Skip(stream, offset - NiftiHeader.Size, path, offset);

        var type = h.DataType;
        int size = type.Size();
        long total = n * size;
        // A plain file's size was checked against its length; a gzip's voxels grow as they arrive.
        var dst = new T[gz ? Math.Min(n, ChunkBytes / size) : n];
        var buf = new byte[ChunkBytes];
        var (slope, inter) = h.Scaling;
        long done = 0;
        while (done < total)
        {
            int want = (int)Math.Min(ChunkBytes, total - done);
            int got = stream.ReadAtLeast(buf.AsSpan(0, want), want, throwOnEndOfStream: false);
            if (got < want)
                throw new InvalidDataException($"{path}: truncated: the header (dim {Dims(h)}, datatype {type.Name()}, vox_offset {offset}) " +
                                               $"claims {total} bytes of voxel data, the file ends after {done + got}");
            long first = done / size, count = want / size;
            if (first + count > dst.LongLength) Array.Resize(ref dst, (int)Math.Min(n, Math.Max(2 * dst.LongLength, first + count)));
            Decode(buf.AsSpan(0, want), dst.AsSpan((int)first, (int)count), type, h.BigEndian, slope, inter, path, first);
            done += want;
        }
        if (gz && stream.ReadAtLeast(buf.AsSpan(0, 1), 1, throwOnEndOfStream: false) > 0)
            throw new InvalidDataException($"{path}: the gzip stream holds more than the {offset + total} bytes the header claims (dim {Dims(h)}, datatype {type.Name()}): corrupt or not what it says");
        return new NiftiImage<T>(h, dst, path);
    }

    private static FileStream Open(string path, out Stream stream, out bool gz)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"NIfTI file {path} does not exist", path);
        var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            Span<byte> magic = stackalloc byte[2];
            int got = f.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
            f.Position = 0;
            gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
            stream = gz ? new GZipStream(f, CompressionMode.Decompress, leaveOpen: true) : f;
            return f;
        }
        catch
        {
            f.Dispose();
            throw;
        }
    }

    private static NiftiHeader ReadAndCheckHeader(Stream s, long fileLength, bool gz, string path)
    {
        var hb = new byte[NiftiHeader.Size];
        int got;
        try
        {
            got = s.ReadAtLeast(hb, hb.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: not a valid gzip stream: {e.Message}", e);
        }
        if (got < hb.Length)
            throw new InvalidDataException($"{path}: truncated: {got} bytes{(gz ? " after decompression" : "")}, a NIfTI-1 header needs {NiftiHeader.Size}");
        var h = NiftiHeader.Parse(hb, path);
        long n = h.VoxelCount;
        if (n > Array.MaxLength)
            throw new InvalidDataException($"{path}: dim {Dims(h)} holds {n} voxels, more than one array can (at most {Array.MaxLength})");
        long claimed = (long)h.VoxOffset + n * h.DataType.Size();
        if (!gz && claimed > fileLength)
            throw new InvalidDataException($"{path}: truncated or corrupt: the header (dim {Dims(h)}, datatype {h.DataType.Name()}, vox_offset {(long)h.VoxOffset}) " +
                                           $"claims {claimed} bytes, the file has {fileLength}");
        if (gz && claimed > fileLength * MaxDeflateRatio + 4096)
            throw new InvalidDataException($"{path}: the header (dim {Dims(h)}, datatype {h.DataType.Name()}) claims {claimed} bytes, " +
                                           $"more than a {fileLength}-byte gzip file can hold: truncated or corrupt");
        return h;
    }

    private static void Skip(Stream s, long count, string path, long offset)
    {
        if (count <= 0) return;
        if (s.CanSeek)
        {
            s.Seek(count, SeekOrigin.Current);
            return;
        }
        var buf = new byte[(int)Math.Min(count, ChunkBytes)];
        while (count > 0)
        {
            int want = (int)Math.Min(count, buf.Length);
            int got = s.ReadAtLeast(buf.AsSpan(0, want), want, throwOnEndOfStream: false);
            if (got < want) throw new InvalidDataException($"{path}: truncated: the file ends before vox_offset {offset}");
            count -= want;
        }
    }

    private static string Dims(NiftiHeader h) => "[" + string.Join(",", h.Dim.Skip(1).Take(h.Dim[0])) + "]";

    private static void Decode<T>(ReadOnlySpan<byte> src, Span<T> dst, NiftiDataType type, bool big, double slope, double inter, string path, long first)
        where T : unmanaged
    {
        if (type is not (NiftiDataType.UInt8 or NiftiDataType.Int8 or NiftiDataType.Int16 or NiftiDataType.UInt16
            or NiftiDataType.Int32 or NiftiDataType.Float32 or NiftiDataType.Float64))
            throw new InvalidDataException($"{path}: datatype {(short)type} is not supported");
        bool scaled = slope != 1 || inter != 0;
        for (int i = 0; i < dst.Length; i++)
        {
            double v = Raw(src, i, type, big);
            Store(dst, i, scaled ? v * slope + inter : v, path, first);
        }
    }

    /// <summary>Voxel i of the stored data, in the file's type and byte order.</summary>
    private static double Raw(ReadOnlySpan<byte> src, int i, NiftiDataType type, bool big) => type switch
    {
        NiftiDataType.UInt8 => src[i],
        NiftiDataType.Int8 => (sbyte)src[i],
        NiftiDataType.Int16 => big ? BinaryPrimitives.ReadInt16BigEndian(src[(2 * i)..]) : BinaryPrimitives.ReadInt16LittleEndian(src[(2 * i)..]),
        NiftiDataType.UInt16 => big ? BinaryPrimitives.ReadUInt16BigEndian(src[(2 * i)..]) : BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]),
        NiftiDataType.Int32 => big ? BinaryPrimitives.ReadInt32BigEndian(src[(4 * i)..]) : BinaryPrimitives.ReadInt32LittleEndian(src[(4 * i)..]),
        NiftiDataType.Float32 => big ? BinaryPrimitives.ReadSingleBigEndian(src[(4 * i)..]) : BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]),
        _ => big ? BinaryPrimitives.ReadDoubleBigEndian(src[(8 * i)..]) : BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]),
    };

    private static void Store<T>(Span<T> dst, int i, double v, string path, long first) where T : unmanaged
    {
        // The type tests fold away per instantiation; Unsafe.As avoids boxing.
        if (typeof(T) == typeof(float)) { float f = (float)v; dst[i] = Unsafe.As<float, T>(ref f); }
        else if (typeof(T) == typeof(double)) dst[i] = Unsafe.As<double, T>(ref v);
        else if (typeof(T) == typeof(int)) { int k = (int)Whole(v, int.MinValue, int.MaxValue, path, first + i, "int32"); dst[i] = Unsafe.As<int, T>(ref k); }
        else if (typeof(T) == typeof(short)) { short k = (short)Whole(v, short.MinValue, short.MaxValue, path, first + i, "int16"); dst[i] = Unsafe.As<short, T>(ref k); }
        else { byte k = (byte)Whole(v, 0, 255, path, first + i, "byte"); dst[i] = Unsafe.As<byte, T>(ref k); }
    }

    private static double Whole(double v, double min, double max, string path, long index, string what)
    {
        if (v == Math.Floor(v) && v >= min && v <= max) return v;
        throw new InvalidDataException($"{path}: voxel {index} is {v}, not a whole number in the range of {what}: this is not a label image (read it as float)");
    }
}
