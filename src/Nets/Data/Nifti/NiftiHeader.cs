using System.Buffers.Binary;
using System.Text;

namespace Kernels.Nets.Data.Nifti;

/// <summary>The 348-byte NIfTI-1 header, every field kept so that a file written "like" another
/// carries its geometry and descriptive fields over unchanged. Parse checks what the reader
/// relies on (size, magic, dims, datatype, vox_offset) and names the file and the field when
/// something is wrong.</summary>
public sealed class NiftiHeader
{
    public const int Size = 348;
    /// <summary>Header plus the 4-byte extension flag: where voxel data starts in a file we write.</summary>
    public const int DataOffset = 352;

    public bool BigEndian { get; set; }
    public byte[] DataTypeName { get; set; } = new byte[10];
    public byte[] DbName { get; set; } = new byte[18];
    public int Extents { get; set; }
    public short SessionError { get; set; }
    public byte Regular { get; set; } = (byte)'r';
    public byte DimInfo { get; set; }
    /// <summary>dim[0] = number of dimensions, dim[1..7] sizes.</summary>
    public short[] Dim { get; set; } = [3, 1, 1, 1, 1, 1, 1, 1];
    public float IntentP1 { get; set; }
    public float IntentP2 { get; set; }
    public float IntentP3 { get; set; }
    public short IntentCode { get; set; }
    public short DataTypeCode { get; set; } = (short)NiftiDataType.Float32;
    public short BitPix { get; set; } = 32;
    public short SliceStart { get; set; }
    /// <summary>pixdim[0] = qfac (±1), pixdim[1..3] voxel spacing, pixdim[4] TR.</summary>
    public float[] PixDim { get; set; } = [1, 1, 1, 1, 1, 1, 1, 1];
    public float VoxOffset { get; set; } = DataOffset;
    public float SclSlope { get; set; } = 1;
    public float SclInter { get; set; }
    public short SliceEnd { get; set; }
    public byte SliceCode { get; set; }
    /// <summary>Units: 2 = millimetres for space (the low 3 bits), 8 = seconds for time.</summary>
    public byte XyztUnits { get; set; } = 2;
    public float CalMax { get; set; }
    public float CalMin { get; set; }
    public float SliceDuration { get; set; }
    public float TOffset { get; set; }
    public int GlMax { get; set; }
    public int GlMin { get; set; }
    public byte[] Descrip { get; set; } = new byte[80];
    public byte[] AuxFile { get; set; } = new byte[24];
    public short QFormCode { get; set; }
    public short SFormCode { get; set; }
    public float QuaternB { get; set; }
    public float QuaternC { get; set; }
    public float QuaternD { get; set; }
    public float QOffsetX { get; set; }
    public float QOffsetY { get; set; }
    public float QOffsetZ { get; set; }
    public float[] SRowX { get; set; } = [1, 0, 0, 0];
    public float[] SRowY { get; set; } = [0, 1, 0, 0];
    public float[] SRowZ { get; set; } = [0, 0, 1, 0];
    public byte[] IntentName { get; set; } = new byte[16];
    public byte[] Magic { get; set; } = "n+1\0"u8.ToArray();

    public NiftiDataType DataType => (NiftiDataType)DataTypeCode;

    /// <summary>Sizes along x, y, z (1 where the file has fewer dimensions).</summary>
    public (int X, int Y, int Z) Shape => (Dim[1], Dim[0] >= 2 ? Dim[2] : 1, Dim[0] >= 3 ? Dim[3] : 1);

    /// <summary>Voxel spacing along x, y, z from pixdim[1..3] (absolute values; 1 where a size is 1 and pixdim is 0).</summary>
    public (double X, double Y, double Z) Spacing => (Pd(1), Pd(2), Pd(3));

    private double Pd(int i) => PixDim[i] is var p && p != 0 && float.IsFinite(p) ? Math.Abs((double)p) : 1.0;

    public long VoxelCount => (long)Shape.X * Shape.Y * Shape.Z;

    /// <summary>The description string (descrip), up to its first NUL.</summary>
    public string Description
    {
        get => CString(Descrip);
        set
        {
            var b = Encoding.ASCII.GetBytes(value);
            Descrip = new byte[80];
            b.AsSpan(0, Math.Min(b.Length, 79)).CopyTo(Descrip);
        }
    }

    /// <summary>Whether scl_slope / scl_inter change the stored values (slope 0 or non-finite means no scaling).</summary>
    public bool HasScaling => SclSlope != 0 && float.IsFinite(SclSlope) && (SclSlope != 1 || (SclInter != 0 && float.IsFinite(SclInter)));

    public (double Slope, double Inter) Scaling =>
        SclSlope != 0 && float.IsFinite(SclSlope) ? (SclSlope, float.IsFinite(SclInter) ? SclInter : 0.0) : (1.0, 0.0);

    /// <summary>The voxel-to-world 4×4 affine (row-major [4,4]): the sform when sform_code &gt; 0,
    /// else the qform quaternion when qform_code &gt; 0, else the spacing alone (NIfTI method 1:
    /// x = pixdim[1]·i, …, no offset).</summary>
    public double[,] Affine()
    {
        if (SFormCode > 0)
            return new double[,]
            {
                { SRowX[0], SRowX[1], SRowX[2], SRowX[3] },
                { SRowY[0], SRowY[1], SRowY[2], SRowY[3] },
                { SRowZ[0], SRowZ[1], SRowZ[2], SRowZ[3] },
                { 0, 0, 0, 1 },
            };
        if (QFormCode > 0) return QFormAffine();
        var (sx, sy, sz) = Spacing;
        return new double[,] { { sx, 0, 0, 0 }, { 0, sy, 0, 0 }, { 0, 0, sz, 0 }, { 0, 0, 0, 1 } };
    }

    /// <summary>The qform affine (NIfTI method 2) whatever qform_code says.</summary>
    public double[,] QFormAffine()
    {
        double b = QuaternB, c = QuaternC, d = QuaternD;
        double w2 = 1.0 - (b * b + c * c + d * d), a;
        if (w2 < 1e-7)
        {
            // A rotation by 180°: (b, c, d) is a unit vector up to rounding; renormalise it.
            double n = Math.Sqrt(b * b + c * c + d * d);
            if (n > 0) { b /= n; c /= n; d /= n; }
            a = 0;
        }
        else a = Math.Sqrt(w2);
        double qfac = PixDim[0] < 0 ? -1 : 1;
        double dx = Math.Abs((double)PixDim[1]), dy = Math.Abs((double)PixDim[2]), dz = Math.Abs((double)PixDim[3]) * qfac;
        return new double[,]
        {
            { (a * a + b * b - c * c - d * d) * dx, 2 * (b * c - a * d) * dy, 2 * (b * d + a * c) * dz, QOffsetX },
            { 2 * (b * c + a * d) * dx, (a * a + c * c - b * b - d * d) * dy, 2 * (c * d - a * b) * dz, QOffsetY },
            { 2 * (b * d - a * c) * dx, 2 * (c * d + a * b) * dy, (a * a + d * d - c * c - b * b) * dz, QOffsetZ },
            { 0, 0, 0, 1 },
        };
    }

    /// <summary>Sets both sform (exactly) and qform (the nearest rotation, spacing and offset) from
    /// an affine, with the given codes (1 = scanner anatomical), and pixdim[1..3] from its column norms.</summary>
    public void SetAffine(double[,] affine, short code = 1)
    {
        if (affine.GetLength(0) != 4 || affine.GetLength(1) != 4)
            throw new ArgumentException($"an affine is 4×4, got {affine.GetLength(0)}×{affine.GetLength(1)}", nameof(affine));
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                if (!double.IsFinite(affine[i, j])) throw new ArgumentException($"affine[{i},{j}] = {affine[i, j]} is not finite", nameof(affine));
        SRowX = [(float)affine[0, 0], (float)affine[0, 1], (float)affine[0, 2], (float)affine[0, 3]];
        SRowY = [(float)affine[1, 0], (float)affine[1, 1], (float)affine[1, 2], (float)affine[1, 3]];
        SRowZ = [(float)affine[2, 0], (float)affine[2, 1], (float)affine[2, 2], (float)affine[2, 3]];
        SFormCode = code;

        var zoom = new double[3];
        var r = new double[3, 3];
        for (int j = 0; j < 3; j++)
        {
            zoom[j] = Math.Sqrt(affine[0, j] * affine[0, j] + affine[1, j] * affine[1, j] + affine[2, j] * affine[2, j]);
            if (zoom[j] == 0) throw new ArgumentException($"affine column {j} is zero: the voxel axes must span space", nameof(affine));
            for (int i = 0; i < 3; i++) r[i, j] = affine[i, j] / zoom[j];
        }
        double det = r[0, 0] * (r[1, 1] * r[2, 2] - r[1, 2] * r[2, 1])
                   - r[0, 1] * (r[1, 0] * r[2, 2] - r[1, 2] * r[2, 0])
                   + r[0, 2] * (r[1, 0] * r[2, 1] - r[1, 1] * r[2, 0]);
        double qfac = 1;
        if (det < 0)
        {
            // A left-handed voxel grid: the quaternion describes the proper rotation, qfac flips z.
            qfac = -1;
            for (int i = 0; i < 3; i++) r[i, 2] = -r[i, 2];
        }
        var (qa, qb, qc, qd) = Quaternion(r);
        if (qa < 0) (qb, qc, qd) = (-qb, -qc, -qd);
        QuaternB = (float)qb;
        QuaternC = (float)qc;
        QuaternD = (float)qd;
        QOffsetX = (float)affine[0, 3];
        QOffsetY = (float)affine[1, 3];
        QOffsetZ = (float)affine[2, 3];
        PixDim[0] = (float)qfac;
        PixDim[1] = (float)zoom[0];
        PixDim[2] = (float)zoom[1];
        PixDim[3] = (float)zoom[2];
        QFormCode = code;
    }

    private static (double A, double B, double C, double D) Quaternion(double[,] r)
    {
        double a = r[0, 0] + r[1, 1] + r[2, 2] + 1, b, c, d;
        if (a > 0.5)
        {
            a = 0.5 * Math.Sqrt(a);
            b = 0.25 * (r[2, 1] - r[1, 2]) / a;
            c = 0.25 * (r[0, 2] - r[2, 0]) / a;
            d = 0.25 * (r[1, 0] - r[0, 1]) / a;
            return (a, b, c, d);
        }
        double xd = 1 + r[0, 0] - (r[1, 1] + r[2, 2]), yd = 1 + r[1, 1] - (r[0, 0] + r[2, 2]), zd = 1 + r[2, 2] - (r[0, 0] + r[1, 1]);
        if (xd > 1)
        {
            b = 0.5 * Math.Sqrt(xd);
            c = 0.25 * (r[0, 1] + r[1, 0]) / b;
            d = 0.25 * (r[0, 2] + r[2, 0]) / b;
            a = 0.25 * (r[2, 1] - r[1, 2]) / b;
        }
        else if (yd > 1)
        {
            c = 0.5 * Math.Sqrt(yd);
            b = 0.25 * (r[0, 1] + r[1, 0]) / c;
            d = 0.25 * (r[1, 2] + r[2, 1]) / c;
            a = 0.25 * (r[0, 2] - r[2, 0]) / c;
        }
        else
        {
            d = 0.5 * Math.Sqrt(zd);
            b = 0.25 * (r[0, 2] + r[2, 0]) / d;
            c = 0.25 * (r[1, 2] + r[2, 1]) / d;
            a = 0.25 * (r[1, 0] - r[0, 1]) / d;
        }
        return (a, b, c, d);
    }

    public NiftiHeader Clone()
    {
        var h = (NiftiHeader)MemberwiseClone();
        h.DataTypeName = (byte[])DataTypeName.Clone();
        h.DbName = (byte[])DbName.Clone();
        h.Dim = (short[])Dim.Clone();
        h.PixDim = (float[])PixDim.Clone();
        h.Descrip = (byte[])Descrip.Clone();
        h.AuxFile = (byte[])AuxFile.Clone();
        h.SRowX = (float[])SRowX.Clone();
        h.SRowY = (float[])SRowY.Clone();
        h.SRowZ = (float[])SRowZ.Clone();
        h.IntentName = (byte[])IntentName.Clone();
        h.Magic = (byte[])Magic.Clone();
        return h;
    }

    /// <summary>Parses and checks a header (the first 348 bytes of a file). <paramref name="file"/>
    /// names the file in errors.</summary>
    public static NiftiHeader Parse(ReadOnlySpan<byte> b, string file)
    {
        if (b.Length < Size)
            throw new InvalidDataException($"{file}: truncated NIfTI header: {b.Length} bytes, a NIfTI-1 header has {Size}");
        int le = BinaryPrimitives.ReadInt32LittleEndian(b), be = BinaryPrimitives.ReadInt32BigEndian(b);
        bool big;
        if (le == Size) big = false;
        else if (be == Size) big = true;
        else if (le == 540 || be == 540)
            throw new InvalidDataException($"{file}: sizeof_hdr = 540 is a NIfTI-2 header; only NIfTI-1 (sizeof_hdr = 348) is supported");
        else
            throw new InvalidDataException($"{file}: sizeof_hdr = {le} (byte-swapped {be}) is not 348: not a NIfTI-1 file, or it is corrupt");

        var r = new FieldReader(b, big);
        var h = new NiftiHeader { BigEndian = big };
        h.DataTypeName = b.Slice(4, 10).ToArray();
        h.DbName = b.Slice(14, 18).ToArray();
        h.Extents = r.I32(32);
        h.SessionError = r.I16(36);
        h.Regular = b[38];
        h.DimInfo = b[39];
        for (int i = 0; i < 8; i++) h.Dim[i] = r.I16(40 + 2 * i);
        h.IntentP1 = r.F32(56);
        h.IntentP2 = r.F32(60);
        h.IntentP3 = r.F32(64);
        h.IntentCode = r.I16(68);
        h.DataTypeCode = r.I16(70);
        h.BitPix = r.I16(72);
        h.SliceStart = r.I16(74);
        for (int i = 0; i < 8; i++) h.PixDim[i] = r.F32(76 + 4 * i);
        h.VoxOffset = r.F32(108);
        h.SclSlope = r.F32(112);
        h.SclInter = r.F32(116);
        h.SliceEnd = r.I16(120);
        h.SliceCode = b[122];
        h.XyztUnits = b[123];
        h.CalMax = r.F32(124);
        h.CalMin = r.F32(128);
        h.SliceDuration = r.F32(132);
        h.TOffset = r.F32(136);
        h.GlMax = r.I32(140);
        h.GlMin = r.I32(144);
        h.Descrip = b.Slice(148, 80).ToArray();
        h.AuxFile = b.Slice(228, 24).ToArray();
        h.QFormCode = r.I16(252);
        h.SFormCode = r.I16(254);
        h.QuaternB = r.F32(256);
        h.QuaternC = r.F32(260);
        h.QuaternD = r.F32(264);
        h.QOffsetX = r.F32(268);
        h.QOffsetY = r.F32(272);
        h.QOffsetZ = r.F32(276);
        for (int i = 0; i < 4; i++)
        {
            h.SRowX[i] = r.F32(280 + 4 * i);
            h.SRowY[i] = r.F32(296 + 4 * i);
            h.SRowZ[i] = r.F32(312 + 4 * i);
        }
        h.IntentName = b.Slice(328, 16).ToArray();
        h.Magic = b.Slice(344, 4).ToArray();
        h.Validate(file);
        return h;
    }

    private void Validate(string file)
    {
        if (Magic[0] == 'n' && Magic[1] == 'i' && Magic[2] == '1')
            throw new InvalidDataException($"{file}: magic 'ni1' is a two-file NIfTI (.hdr + .img); only single-file .nii / .nii.gz is supported");
        if (!(Magic[0] == 'n' && Magic[1] == '+' && Magic[2] == '1' && Magic[3] == 0))
            throw new InvalidDataException($"{file}: magic is not 'n+1' (got {Printable(Magic)}): not a single-file NIfTI-1 image (an Analyze 7.5 file?)");
        int nd = Dim[0];
        if (nd < 1 || nd > 7)
            throw new InvalidDataException($"{file}: dim[0] = {nd}: the number of dimensions must be 1 to 7");
        for (int i = 1; i <= nd; i++)
            if (Dim[i] < 1)
                throw new InvalidDataException($"{file}: dim[{i}] = {Dim[i]}: every size must be at least 1");
        for (int i = 4; i <= nd; i++)
            if (Dim[i] != 1)
                throw new InvalidDataException($"{file}: dim[{i}] = {Dim[i]}: only 3-D volumes are supported (a 4th or higher dimension must have size 1)");
        if (!NiftiDataTypes.IsSupported(DataTypeCode))
            throw new InvalidDataException($"{file}: datatype = {DataTypeCode} is not supported (supported: 2 uint8, 4 int16, 8 int32, 16 float32, 64 float64, 256 int8, 512 uint16)");
        int bits = 8 * DataType.Size();
        if (BitPix != bits)
            throw new InvalidDataException($"{file}: bitpix = {BitPix} does not match datatype {DataType.Name()} ({bits} bits)");
        // No real file puts 2 GB of extensions before its voxels; the bound also keeps (long)VoxOffset exact.
        if (!float.IsFinite(VoxOffset) || VoxOffset < Size || VoxOffset != MathF.Floor(VoxOffset) || VoxOffset > int.MaxValue)
            throw new InvalidDataException($"{file}: vox_offset = {VoxOffset}: voxel data must start at a whole byte offset of at least {Size}");
        for (int i = 1; i <= 3; i++)
            if (!float.IsFinite(PixDim[i]))
                throw new InvalidDataException($"{file}: pixdim[{i}] = {PixDim[i]} is not finite");
    }

    /// <summary>The 348 header bytes, little-endian.</summary>
    public void Encode(Span<byte> b)
    {
        b[..Size].Clear();
        var w = new FieldWriter(b);
        w.I32(0, Size);
        DataTypeName.AsSpan(0, 10).CopyTo(b[4..]);
        DbName.AsSpan(0, 18).CopyTo(b[14..]);
        w.I32(32, Extents);
        w.I16(36, SessionError);
        b[38] = Regular;
        b[39] = DimInfo;
        for (int i = 0; i < 8; i++) w.I16(40 + 2 * i, Dim[i]);
        w.F32(56, IntentP1);
        w.F32(60, IntentP2);
        w.F32(64, IntentP3);
        w.I16(68, IntentCode);
        w.I16(70, DataTypeCode);
        w.I16(72, BitPix);
        w.I16(74, SliceStart);
        for (int i = 0; i < 8; i++) w.F32(76 + 4 * i, PixDim[i]);
        w.F32(108, VoxOffset);
        w.F32(112, SclSlope);
        w.F32(116, SclInter);
        w.I16(120, SliceEnd);
        b[122] = SliceCode;
        b[123] = XyztUnits;
        w.F32(124, CalMax);
        w.F32(128, CalMin);
        w.F32(132, SliceDuration);
        w.F32(136, TOffset);
        w.I32(140, GlMax);
        w.I32(144, GlMin);
        Descrip.AsSpan(0, 80).CopyTo(b[148..]);
        AuxFile.AsSpan(0, 24).CopyTo(b[228..]);
        w.I16(252, QFormCode);
        w.I16(254, SFormCode);
        w.F32(256, QuaternB);
        w.F32(260, QuaternC);
        w.F32(264, QuaternD);
        w.F32(268, QOffsetX);
        w.F32(272, QOffsetY);
        w.F32(276, QOffsetZ);
        for (int i = 0; i < 4; i++)
        {
            w.F32(280 + 4 * i, SRowX[i]);
            w.F32(296 + 4 * i, SRowY[i]);
            w.F32(312 + 4 * i, SRowZ[i]);
        }
        IntentName.AsSpan(0, 16).CopyTo(b[328..]);
        Magic.AsSpan(0, 4).CopyTo(b[344..]);
    }

    private static string CString(byte[] bytes)
    {
        int n = Array.IndexOf(bytes, (byte)0);
        return Encoding.ASCII.GetString(bytes, 0, n < 0 ? bytes.Length : n);
    }

    private static string Printable(byte[] m) =>
        "'" + string.Concat(m.Select(c => c is >= 32 and < 127 ? ((char)c).ToString() : $"\\x{c:x2}")) + "'";

    private readonly ref struct FieldReader(ReadOnlySpan<byte> b, bool big)
    {
        private readonly ReadOnlySpan<byte> _b = b;
        public short I16(int o) => big ? BinaryPrimitives.ReadInt16BigEndian(_b[o..]) : BinaryPrimitives.ReadInt16LittleEndian(_b[o..]);
        public int I32(int o) => big ? BinaryPrimitives.ReadInt32BigEndian(_b[o..]) : BinaryPrimitives.ReadInt32LittleEndian(_b[o..]);
        public float F32(int o) => big ? BinaryPrimitives.ReadSingleBigEndian(_b[o..]) : BinaryPrimitives.ReadSingleLittleEndian(_b[o..]);
    }

    private readonly ref struct FieldWriter(Span<byte> b)
    {
        private readonly Span<byte> _b = b;
        public void I16(int o, short v) => BinaryPrimitives.WriteInt16LittleEndian(_b[o..], v);
        public void I32(int o, int v) => BinaryPrimitives.WriteInt32LittleEndian(_b[o..], v);
        public void F32(int o, float v) => BinaryPrimitives.WriteSingleLittleEndian(_b[o..], v);
    }
}
