using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Kernels.Nets.IO;

/// <summary>An open safetensors file: the header is read and validated on open, and tensors are
/// read one at a time by name, straight into their buffers (one tensor in memory at a time, plus
/// a small conversion chunk). F32, F64 and I32 are read as they are; I64 as int32 (a value out of
/// the int32 range is an error); BF16 and F16 as float32.</summary>
public sealed class SafeTensorsReader : IDisposable
{
    private const int ChunkBytes = 1 << 20;

    private readonly FileStream _stream;

    private SafeTensorsReader(FileStream stream, SafeTensorsHeader header)
    {
        _stream = stream;
        Header = header;
    }

    public static SafeTensorsReader Open(string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors I/O assumes a little-endian machine");
        var stream = SafeTensorsHeader.OpenRead(path);
        try
        {
            return new SafeTensorsReader(stream, SafeTensorsHeader.Read(stream, path));
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public SafeTensorsHeader Header { get; }

    public string Path => Header.Path;

    public IReadOnlyDictionary<string, string> Metadata => Header.Metadata;

    /// <summary>Reads one tensor onto <paramref name="device"/> (default: the CPU). The caller owns it.</summary>
    public Tensor Read(string name, Device? device = null)
    {
        var info = Header[name];
        CheckReadable(info);
        return ReadTensor(info, device ?? Device.Cpu);
    }

    /// <summary>Reads every tensor, in file order.</summary>
    public OrderedDictionary<string, Tensor> ReadAll(Device? device = null) =>
        Read(Header.Tensors.Select(t => t.Name), device);

    /// <summary>Reads the named tensors, in the order given. Every name and dtype is checked
    /// before anything is allocated; on a failure part-way, the tensors already read are disposed.</summary>
    public OrderedDictionary<string, Tensor> Read(IEnumerable<string> names, Device? device = null)
    {
        var infos = new List<SafeTensorInfo>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in names)
        {
            if (!seen.Add(n)) throw new ArgumentException($"SafeTensorsReader.Read: tensor '{n}' was asked for twice");
            var info = Header[n];
            CheckReadable(info);
            infos.Add(info);
        }
        device ??= Device.Cpu;
        var result = new OrderedDictionary<string, Tensor>(infos.Count, StringComparer.Ordinal);
        try
        {
            foreach (var info in infos) result.Add(info.Name, ReadTensor(info, device));
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    private void CheckReadable(SafeTensorInfo info)
    {
        if (info.DType.ReadsAs() is null)
            throw new NotSupportedException(
                $"{Path}: tensor '{info.Name}' has dtype {info.DType}, which this engine does not read (it reads {SafeDTypes.Supported})");
    }

    private Tensor ReadTensor(SafeTensorInfo info, Device device)
    {
        var dtype = info.DType.ReadsAs()!.Value;
        var t = Tensor.Empty(info.Shape, dtype, device);
        try
        {
            switch (dtype)
            {
                case DType.F32: Fill<float>(info, t, device); break;
                case DType.F64: Fill<double>(info, t, device); break;
                case DType.I32: Fill<int>(info, t, device); break;
                default: throw new InvalidOperationException($"unexpected target dtype {dtype}");
            }
            t.Name = info.Name;
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    private void Fill<T>(SafeTensorInfo info, Tensor t, Device device) where T : unmanaged
    {
        if (info.Numel == 0) return;
        if (device.Kind == DeviceKind.Cpu)
        {
            // Straight into the tensor's own memory: no second copy of the tensor.
            Decode(info, CpuBuffer.Span<T>(t.Buffer)[..checked((int)info.Numel)]);
            return;
        }
        var host = new T[info.Numel];
        Decode<T>(info, host);
        device.Upload<T>(host, t.Buffer);
    }

    private void Decode<T>(SafeTensorInfo info, Span<T> dst) where T : unmanaged
    {
        _stream.Position = Header.DataStart + info.Begin;
        try
        {
            if (info.DType is SafeDType.F32 or SafeDType.F64 or SafeDType.I32)
            {
                // Stored exactly as the engine holds it.
                _stream.ReadExactly(MemoryMarshal.AsBytes(dst));
                return;
            }
            Convert(info, dst);
        }
        catch (EndOfStreamException)
        {
            throw SafeTensorsFormat.Error(Path, $"the file ended inside tensor '{info.Name}' (was it truncated while being read?)");
        }
    }

    /// <summary>Reads a tensor whose stored type differs from its engine type, a chunk at a time.</summary>
    private void Convert<T>(SafeTensorInfo info, Span<T> dst) where T : unmanaged
    {
        int size = info.DType.Size();
        var chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            long done = 0;
            while (done < dst.Length)
            {
                int count = (int)Math.Min(dst.Length - done, ChunkBytes / size);
                var bytes = chunk.AsSpan(0, count * size);
                _stream.ReadExactly(bytes);
                var part = dst.Slice((int)done, count);
                switch (info.DType)
                {
                    case SafeDType.I64:
                        ConvertI64(info, bytes, MemoryMarshal.Cast<T, int>(part), done);
                        break;
                    case SafeDType.BF16:
                    {
                        var f = MemoryMarshal.Cast<T, float>(part);
                        for (int i = 0; i < count; i++)
                            f[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]) << 16);
                        break;
                    }
                    case SafeDType.F16:
                    {
                        var f = MemoryMarshal.Cast<T, float>(part);
                        var h = MemoryMarshal.Cast<byte, Half>(bytes);
                        for (int i = 0; i < count; i++) f[i] = (float)h[i];
                        break;
                    }
                    default:
                        throw new InvalidOperationException($"no conversion from {info.DType}");
                }
                done += count;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private void ConvertI64(SafeTensorInfo info, ReadOnlySpan<byte> bytes, Span<int> dst, long offset)
    {
        var src = MemoryMarshal.Cast<byte, long>(bytes);
        for (int i = 0; i < dst.Length; i++)
        {
            long v = src[i];
            if (v < int.MinValue || v > int.MaxValue)
                throw SafeTensorsFormat.Error(Path,
                    $"tensor '{info.Name}' (I64) holds {v} at element {offset + i}, outside the int32 range it is read into");
            dst[i] = (int)v;
        }
    }

    public void Dispose() => _stream.Dispose();
}
