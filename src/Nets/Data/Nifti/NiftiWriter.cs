using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;

namespace Kernels.Nets.Data.Nifti;

/// <summary>Writes single-file NIfTI-1 images, little-endian, gzip-compressed when the path ends
/// in .gz. The header is the image's own (geometry and descriptive fields carried over) with the
/// datatype, bitpix, vox_offset 352, no scaling (slope 1, intercept 0) and no extensions. Values
/// written to an integer datatype are rounded to the nearest integer; NaN or a value outside the
/// datatype's range is an error naming the voxel. The file appears whole or not at all.</summary>
public static class NiftiWriter
{
    private const int ChunkVoxels = 1 << 17;

    public static void Write<T>(string path, NiftiImage<T> image, NiftiDataType type) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!NiftiDataTypes.IsSupported((short)type))
            throw new ArgumentException($"{path}: datatype {(short)type} is not supported for writing", nameof(type));
        var h = image.Header.Clone();
        h.BigEndian = false;
        h.DataTypeCode = (short)type;
        h.BitPix = (short)(8 * type.Size());
        h.VoxOffset = NiftiHeader.DataOffset;
        h.SclSlope = 1;
        h.SclInter = 0;
        // Display range and global extremes of the source would be wrong for new contents.
        h.CalMin = h.CalMax = 0;
        h.GlMin = h.GlMax = 0;
        h.Magic = "n+1\0"u8.ToArray();

        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new DirectoryNotFoundException($"cannot write {path}: folder {dir} does not exist");
        var tmp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
                using (Stream s = gz ? new GZipStream(f, CompressionLevel.Fastest, leaveOpen: true) : f)
                {
                    var hb = new byte[NiftiHeader.DataOffset];
                    h.Encode(hb);
                    s.Write(hb);
                    var buf = new byte[ChunkVoxels * type.Size()];
                    var data = image.Data;
                    for (long first = 0; first < data.LongLength; first += ChunkVoxels)
                    {
                        int count = (int)Math.Min(ChunkVoxels, data.LongLength - first);
                        int bytes = Encode(data.AsSpan((int)first, count), buf, type, path, first);
                        s.Write(buf, 0, bytes);
                    }
                }
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes <paramref name="data"/> with the shape, spacing, affine and descriptive
    /// header fields of <paramref name="reference"/> (e.g. a segmentation of an input volume).</summary>
    public static void WriteLike<T, TRef>(string path, NiftiImage<TRef> reference, T[] data, NiftiDataType type)
        where T : unmanaged where TRef : unmanaged
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (data.LongLength != reference.Header.VoxelCount)
            throw new ArgumentException($"{path}: {data.LongLength} voxels do not fit the reference {reference.Path ?? "image"}'s shape {reference.Shape}", nameof(data));
        Write(path, reference.With(data), type);
    }

    private static int Encode<T>(ReadOnlySpan<T> src, byte[] dst, NiftiDataType type, string path, long first) where T : unmanaged
    {
        int size = type.Size();
        var (min, max) = type.Range();
        bool integer = type.IsInteger();
        for (int i = 0; i < src.Length; i++)
        {
            T t = src[i];
            double v = ToDouble(ref t);
            if (integer)
            {
                if (double.IsNaN(v))
                    throw new ArgumentException($"{path}: voxel {first + i} is NaN, which datatype {type.Name()} cannot hold");
                v = Math.Round(v, MidpointRounding.AwayFromZero);
                if (v < min || v > max)
                    throw new ArgumentException($"{path}: voxel {first + i} = {v} is outside the range of datatype {type.Name()} [{min}, {max}]");
            }
            var d = dst.AsSpan(i * size, size);
            switch (type)
            {
                case NiftiDataType.UInt8: d[0] = (byte)v; break;
                case NiftiDataType.Int8: d[0] = (byte)(sbyte)v; break;
                case NiftiDataType.Int16: BinaryPrimitives.WriteInt16LittleEndian(d, (short)v); break;
                case NiftiDataType.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(d, (ushort)v); break;
                case NiftiDataType.Int32: BinaryPrimitives.WriteInt32LittleEndian(d, (int)v); break;
                case NiftiDataType.Float32: BinaryPrimitives.WriteSingleLittleEndian(d, (float)v); break;
                default: BinaryPrimitives.WriteDoubleLittleEndian(d, v); break;
            }
        }
        return src.Length * size;
    }

    private static double ToDouble<T>(ref T t) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return Unsafe.As<T, float>(ref t);
        if (typeof(T) == typeof(double)) return Unsafe.As<T, double>(ref t);
        if (typeof(T) == typeof(int)) return Unsafe.As<T, int>(ref t);
        if (typeof(T) == typeof(short)) return Unsafe.As<T, short>(ref t);
        if (typeof(T) == typeof(byte)) return Unsafe.As<T, byte>(ref t);
        throw new NotSupportedException($"NiftiWriter: element type {typeof(T).Name} (use float, double, int, short or byte)");
    }
}
