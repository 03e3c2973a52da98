namespace Kernels.Nets.Data.Lits;

/// <summary>The drawn anatomy of one phantom case in millimetres, centred on the volume: x towards
/// the patient's left (the liver lies at negative x), y posterior, z cranial. <see cref="Sample"/>
/// gives the tissue (HU before lesions, blur and noise) and the label (0 or 1) at a point; it uses
/// no randomness, so the volume can be painted in parallel and stays deterministic.</summary>
internal sealed class PhantomAnatomy
{
    public const double Air = -1000, Fat = -100, Muscle = 50, Bone = 700, Cancellous = 250, Lung = -850;

    private readonly double _bodyA, _bodyB, _bodyY, _fatA, _fatB, _cavA, _cavB;
    private readonly double _spineY, _spineR, _discPhase;
    private readonly double _ribPhase;
    private readonly double _aortaX, _aortaY, _ivcX, _ivcY;
    public readonly double VesselHu;
    private readonly double _domeZ;
    private readonly (double X, double Y, double Z, double Drop)[] _domes;
    private readonly Ellipsoid _heart, _spleen, _stomach, _kidneyL, _kidneyR;
    private readonly Ellipsoid? _gallbladder;
    private readonly double _gallHu, _spleenHu;
    public readonly double LiverHu;
    private readonly Superellipsoid[] _lobes;
    private readonly Wave[] _deform, _texture, _bowel;
    private readonly Segment[] _vessels;
    private readonly double _liverMinZ, _liverMaxZ;

    public PhantomAnatomy(Rng rng, double fovX, double fovY, double coverZ)
    {
        double U(double a, double b) => a + (b - a) * rng.NextDouble();
        double half = Math.Min(fovX, fovY) / 2;
        _bodyA = Math.Min(U(140, 170), half - 8);
        _bodyB = _bodyA * U(0.68, 0.8);
        _bodyY = U(-6, 6);
        double tf = U(10, 25), tm = U(7, 12);
        _fatA = _bodyA - tf;
        _fatB = _bodyB - tf;
        _cavA = _fatA - tm;
        _cavB = _fatB - tm;

        _spineR = U(15, 19);
        _spineY = _bodyY + _cavB - _spineR - 8;
        _discPhase = U(0, 32);
        _ribPhase = U(0, 28);
        _aortaX = U(10, 18);
        _aortaY = _spineY - _spineR - 12;
        _ivcX = -U(20, 28);
        _ivcY = _spineY - _spineR - U(4, 10);
        VesselHu = U(140, 190);

        // The liver dome sits 15–45 mm below the top slice, so the whole organ is mostly covered.
        _domeZ = coverZ / 2 - U(15, 45);
        _domes =
        [
            (-U(40, 60), _bodyY + U(-10, 10), _domeZ, 0.0035),
            (U(40, 60), _bodyY + U(-10, 10), _domeZ - U(5, 20), 0.0035),
        ];
        _heart = new Ellipsoid(U(5, 25), _bodyY - _cavB * 0.35, _domeZ + U(45, 65), U(55, 70), U(45, 60), U(50, 65));

        LiverHu = U(50, 70);
        double s = U(0.85, 1.1);
        double xR = -_cavA * U(0.3, 0.42), yR = _bodyY + U(-8, 8);
        double azR = U(65, 85) * s;
        _lobes =
        [
            new Superellipsoid(xR, yR, _domeZ - azR + 3, U(62, 78) * s, Math.Min(U(75, 90) * s, _cavB - 8), azR, U(2.2, 3.0)),
            new Superellipsoid(U(5, 25), _bodyY - _cavB * U(0.3, 0.45), _domeZ - U(35, 55) * s, U(50, 70) * s, U(28, 40) * s, U(28, 40) * s, 2.0),
            new Superellipsoid(-U(0, 10), _ivcY - U(15, 25), _domeZ - U(50, 70) * s, U(16, 22) * s, U(16, 22) * s, U(25, 35) * s, 2.0),
        ];
        _liverMaxZ = _domeZ + 5;
        _liverMinZ = _lobes.Min(l => l.Z - l.C) - 15;
        _deform = Waves(rng, 4, 60, 150, 4, 10);
        _texture = Waves(rng, 3, 20, 60, 0, 1);
        _bowel = Waves(rng, 7, 25, 70, 0, 1); // enough directions that fat and bowel form blobs, not stripes

        var right = _lobes[0];
        _kidneyR = new Ellipsoid(-(_spineR + U(40, 50)), _spineY - U(0, 10), right.Z - right.C * U(0.5, 0.9), U(24, 30), U(20, 25), U(45, 55));
        _kidneyL = new Ellipsoid(_spineR + U(40, 50), _spineY - U(0, 10), _domeZ - U(100, 130), U(24, 30), U(20, 25), U(45, 55));
        _spleen = new Ellipsoid(_cavA - U(40, 50), _spineY - U(20, 35), _domeZ - U(45, 70), U(25, 32), U(45, 55), U(45, 55));
        _spleenHu = LiverHu - U(0, 12);
        _stomach = new Ellipsoid(U(35, 55), _bodyY - _cavB * U(0.35, 0.5), _domeZ - U(40, 70), U(40, 50), U(28, 38), U(40, 55));
        if (rng.NextDouble() < 0.7)
        {
            _gallbladder = new Ellipsoid(right.X + right.A * U(0.35, 0.55), right.Y - right.B * U(0.45, 0.65), right.Z - right.C * U(0.45, 0.65), U(12, 16), U(13, 18), U(25, 35));
            _gallHu = U(0, 20);
        }

        _vessels = VesselTree(rng, right);
    }

    private static Wave[] Waves(Rng rng, int n, double minWave, double maxWave, double minAmp, double maxAmp)
    {
        var w = new Wave[n];
        for (int i = 0; i < n; i++)
        {
            double k = 2 * Math.PI / (minWave + (maxWave - minWave) * rng.NextDouble());
            double th = Math.Acos(2 * rng.NextDouble() - 1), ph = 2 * Math.PI * rng.NextDouble();
            double amp = minAmp + (maxAmp - minAmp) * rng.NextDouble();
            double ath = Math.Acos(2 * rng.NextDouble() - 1), aph = 2 * Math.PI * rng.NextDouble();
            w[i] = new Wave(k * Math.Sin(th) * Math.Cos(ph), k * Math.Sin(th) * Math.Sin(ph), k * Math.Cos(th), 2 * Math.PI * rng.NextDouble(),
                amp * Math.Sin(ath) * Math.Cos(aph), amp * Math.Sin(ath) * Math.Sin(aph), amp * Math.Cos(ath));
        }
        return w;
    }

    /// <summary>A portal tree from the hilum (three trunks, two generations of forks) and three
    /// hepatic veins running from the dome to the IVC; drawn only inside the liver.</summary>
    private Segment[] VesselTree(Rng rng, Superellipsoid right)
    {
        double U(double a, double b) => a + (b - a) * rng.NextDouble();
        var list = new List<Segment>();
        var hilum = (X: right.X + right.A * U(0.35, 0.5), Y: right.Y + right.B * U(-0.1, 0.1), Z: right.Z - right.C * U(0.1, 0.3));
        var left = _lobes[1];
        (double X, double Y, double Z)[] targets =
        [
            (right.X - right.A * 0.5, right.Y + right.B * U(-0.4, 0.4), right.Z + right.C * U(-0.2, 0.3)),
            (right.X + right.A * U(-0.2, 0.2), right.Y + right.B * U(-0.5, 0.5), right.Z - right.C * U(0.4, 0.7)),
            (left.X + left.A * U(0, 0.4), left.Y, left.Z),
        ];
        foreach (var t in targets) Grow(list, rng, hilum, (t.X - hilum.X, t.Y - hilum.Y, t.Z - hilum.Z), U(4.5, 6), 0);
        var ivcTop = (X: _ivcX, Y: _ivcY, Z: _domeZ - U(15, 25));
        for (int i = 0; i < 3; i++)
        {
            double ang = -0.9 + 0.9 * i + U(-0.2, 0.2);
            var end = (X: ivcTop.X + 80 * Math.Sin(ang) - 20, Y: ivcTop.Y - 60 * Math.Cos(ang) * 0.8, Z: ivcTop.Z - U(10, 40));
            list.Add(new Segment(ivcTop, end, U(3.5, 5), 2.0));
        }
        return list.ToArray();
    }

    private static void Grow(List<Segment> list, Rng rng, (double X, double Y, double Z) start, (double X, double Y, double Z) dir, double radius, int depth)
    {
        double len = Math.Sqrt(dir.X * dir.X + dir.Y * dir.Y + dir.Z * dir.Z);
        double f = depth == 0 ? 0.45 : 0.6;
        var end = (X: start.X + dir.X * f, Y: start.Y + dir.Y * f, Z: start.Z + dir.Z * f);
        list.Add(new Segment(start, end, radius, radius * 0.8));
        if (depth >= 2 || len < 15) return;
        for (int c = 0; c < 2; c++)
        {
            // Children turn by 25–45° about a random axis and are 70% as long and wide.
            double a = (25 + 20 * rng.NextDouble()) * Math.PI / 180 * (c == 0 ? 1 : -1);
            var axis = (X: rng.NextNormal(), Y: rng.NextNormal(), Z: rng.NextNormal());
            var nd = Rotate(dir, axis, a);
            Grow(list, rng, end, (nd.X * 0.7, nd.Y * 0.7, nd.Z * 0.7), radius * 0.7, depth + 1);
        }
    }

    private static (double X, double Y, double Z) Rotate((double X, double Y, double Z) v, (double X, double Y, double Z) k, double a)
    {
        double n = Math.Sqrt(k.X * k.X + k.Y * k.Y + k.Z * k.Z);
        if (n == 0) return v;
        k = (k.X / n, k.Y / n, k.Z / n);
        double c = Math.Cos(a), s = Math.Sin(a), d = k.X * v.X + k.Y * v.Y + k.Z * v.Z;
        var cr = (X: k.Y * v.Z - k.Z * v.Y, Y: k.Z * v.X - k.X * v.Z, Z: k.X * v.Y - k.Y * v.X);
        return (v.X * c + cr.X * s + k.X * d * (1 - c), v.Y * c + cr.Y * s + k.Y * d * (1 - c), v.Z * c + cr.Z * s + k.Z * d * (1 - c));
    }

    private double DiaphragmZ(double x, double y)
    {
        double z = double.NegativeInfinity;
        foreach (var d in _domes)
        {
            double dx = x - d.X, dy = y - d.Y;
            z = Math.Max(z, d.Z - d.Drop * (dx * dx + 0.6 * dy * dy));
        }
        return z;
    }

    /// <summary>The liver's shape function: below 1 inside (before carve-outs by other organs).</summary>
    public double LiverShape(double x, double y, double z)
    {
        if (z < _liverMinZ || z > _liverMaxZ) return 2;
        double dx = 0, dy = 0, dz = 0;
        foreach (var w in _deform)
        {
            double s = Math.Sin(w.Kx * x + w.Ky * y + w.Kz * z + w.Phase);
            dx += w.Ax * s;
            dy += w.Ay * s;
            dz += w.Az * s;
        }
        double f = double.PositiveInfinity;
        foreach (var l in _lobes) f = Math.Min(f, l.Value(x + dx, y + dy, z + dz));
        return f;
    }

    private static double Field(Wave[] waves, double x, double y, double z)
    {
        double s = 0;
        foreach (var w in waves) s += Math.Sin(w.Kx * x + w.Ky * y + w.Kz * z + w.Phase);
        return s / waves.Length;
    }

    /// <summary>Tissue HU and label (1 = liver, its vessels included) at a point.</summary>
    public (double Hu, byte Label) Sample(double x, double y, double z)
    {
        double yb = y - _bodyY;
        double eBody = (x / _bodyA) * (x / _bodyA) + (yb / _bodyB) * (yb / _bodyB);
        if (eBody > 1) return (Air, 0);

        // Spine: vertebral body (cortex + cancellous, discs every 32 mm), canal, arch, spinous process.
        double sx = x, sy = y - _spineY;
        double rs = Math.Sqrt(sx * sx + sy * sy);
        if (rs < _spineR)
        {
            bool disc = Math.Abs(Mod(z - _discPhase, 32) - 16) > 13;
            return (disc ? 80 : rs > _spineR - 3 ? Bone : Cancellous, 0);
        }
        double cy = y - (_spineY + _spineR + 10), rc = Math.Sqrt(x * x + cy * cy);
        if (rc < 7) return (20, 0);
        if (rc < 12) return (Bone, 0);
        if (Math.Abs(x) < 4 && cy > 0 && cy < 32) return (Bone, 0);

        double eFat = (x / _fatA) * (x / _fatA) + (yb / _fatB) * (yb / _fatB);
        if (eFat > 1) return (Fat, 0);
        double eCav = (x / _cavA) * (x / _cavA) + (yb / _cavB) * (yb / _cavB);
        // Ribs: 7 mm bands every 28 mm along the lateral and posterior wall, just inside the
        // muscle, sloping down towards the front so an axial slice cuts a few of them obliquely.
        if (eCav > 0.88 && eCav < 1.0 && yb > -_cavB * 0.4 && Mod(z - _ribPhase - 0.4 * yb, 28) < 7) return (Bone, 0);
        if (eCav > 1) return (Muscle, 0);

        double ax = x - _aortaX, ay = y - _aortaY;
        if (ax * ax + ay * ay < 11 * 11) return (VesselHu + 10, 0);
        double ix = x - _ivcX, iy = y - _ivcY;
        if (ix * ix + iy * iy < 12 * 12) return (VesselHu - 20, 0);

        double kq = Math.Min(_kidneyL.Q(x, y, z), _kidneyR.Q(x, y, z));
        if (kq < 1) return (kq < 0.1 ? 10 : kq < 0.45 ? 120 : 160, 0);

        double dia = DiaphragmZ(x, y);
        if (z > dia + 3)
        {
            if (_heart.Q(x, y, z) < 1) return (42, 0);
            return (Lung + 30 * Field(_texture, x, y, z), 0);
        }
        if (z > dia) return (Muscle - 10, 0);

        if (_gallbladder is { } g && g.Q(x, y, z) < 1) return (_gallHu, 0);
        if (LiverShape(x, y, z) < 1 && eCav < 0.93)
        {
            double hu = LiverHu + 5 * Field(_texture, x, y, z);
            foreach (var v in _vessels)
                if (v.Contains(x, y, z)) { hu = VesselHu; break; }
            return (hu, 1);
        }
        if (_spleen.Q(x, y, z) < 1) return (_spleenHu, 0);
        double sq = _stomach.Q(x, y, z);
        if (sq < 1)
        {
            if (sq > 0.8) return (40, 0);
            return (y < _stomach.Y - _stomach.B * 0.3 ? Air : 15, 0);
        }
        double b = Field(_bowel, x, y, z);
        return (b > 0.22 ? -90 : 30 + 15 * b, 0);
    }

    private static double Mod(double a, double m) => a - m * Math.Floor(a / m);

    private readonly record struct Wave(double Kx, double Ky, double Kz, double Phase, double Ax, double Ay, double Az);

    private readonly record struct Ellipsoid(double X, double Y, double Z, double A, double B, double C)
    {
        public double Q(double x, double y, double z)
        {
            double dx = (x - X) / A, dy = (y - Y) / B, dz = (z - Z) / C;
            return dx * dx + dy * dy + dz * dz;
        }
    }

    internal readonly record struct Superellipsoid(double X, double Y, double Z, double A, double B, double C, double P)
    {
        public double Value(double x, double y, double z)
        {
            double dx = Math.Abs(x - X) / A, dy = Math.Abs(y - Y) / B, dz = Math.Abs(z - Z) / C;
            if (dx > 2 || dy > 2 || dz > 2) return 2;
            if (P == 2) return Math.Sqrt(dx * dx + dy * dy + dz * dz);
            return Math.Pow(Math.Pow(dx, P) + Math.Pow(dy, P) + Math.Pow(dz, P), 1 / P);
        }
    }

    private readonly struct Segment
    {
        private readonly double _ax, _ay, _az, _dx, _dy, _dz, _len2, _r0, _r1;
        private readonly double _minX, _maxX, _minY, _maxY, _minZ, _maxZ;

        public Segment((double X, double Y, double Z) a, (double X, double Y, double Z) b, double r0, double r1)
        {
            (_ax, _ay, _az) = a;
            (_dx, _dy, _dz) = (b.X - a.X, b.Y - a.Y, b.Z - a.Z);
            _len2 = Math.Max(1e-9, _dx * _dx + _dy * _dy + _dz * _dz);
            (_r0, _r1) = (r0, r1);
            double r = Math.Max(r0, r1);
            (_minX, _maxX) = (Math.Min(a.X, b.X) - r, Math.Max(a.X, b.X) + r);
            (_minY, _maxY) = (Math.Min(a.Y, b.Y) - r, Math.Max(a.Y, b.Y) + r);
            (_minZ, _maxZ) = (Math.Min(a.Z, b.Z) - r, Math.Max(a.Z, b.Z) + r);
        }

        public bool Contains(double x, double y, double z)
        {
            if (x < _minX || x > _maxX || y < _minY || y > _maxY || z < _minZ || z > _maxZ) return false;
            double px = x - _ax, py = y - _ay, pz = z - _az;
            double t = Math.Clamp((px * _dx + py * _dy + pz * _dz) / _len2, 0, 1);
            double qx = px - t * _dx, qy = py - t * _dy, qz = pz - t * _dz;
            double r = _r0 + (_r1 - _r0) * t;
            return qx * qx + qy * qy + qz * qz < r * r;
        }
    }
}
