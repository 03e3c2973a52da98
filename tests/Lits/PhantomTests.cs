using Kernels.Cli;
using Kernels.Cpu;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Data.Nifti;
using Kernels.Tests.IO;

namespace Kernels.Tests.Lits;

/// <summary>The LiTS-like phantom generator: determinism, labels and their consistency with the
/// lesion maps, HU ranges per tissue and per lesion kind, sizes, spacing, the written files and
/// the `kernels phantom` verb.</summary>
public class PhantomTests : TempFolderTest
{
    private static readonly PhantomOptions Small = new() { X = 64, Y = 64, Z = 32 };

    /// <summary>Eight small cases shared by the statistics tests (generated once).</summary>
    private static readonly Lazy<PhantomCase[]> Cases = new(() => Enumerable.Range(0, 8).Select(i => PhantomGenerator.Generate(Small, 11, i)).ToArray());

    [Test]
    public void SameSeedSameCaseWhateverTheThreads()
    {
        var a = PhantomGenerator.Generate(Small, 5, 2);
        int threads = CpuParallel.Threads;
        PhantomCase b;
        try
        {
            CpuParallel.Threads = 1;
            b = PhantomGenerator.Generate(Small, 5, 2);
        }
        finally
        {
            CpuParallel.Threads = threads;
        }
        Assert.That(b.Volume, Is.EqualTo(a.Volume));
        Assert.That(b.Labels, Is.EqualTo(a.Labels));
        Assert.That(b.LesionClasses, Is.EqualTo(a.LesionClasses));
        Assert.That(b.Spacing, Is.EqualTo(a.Spacing));
        Assert.That(PhantomGenerator.Generate(Small, 5, 3).Labels, Is.Not.EqualTo(a.Labels), "another case");
        Assert.That(PhantomGenerator.Generate(Small, 6, 2).Labels, Is.Not.EqualTo(a.Labels), "another seed");
    }

    [Test]
    public void LabelsAndLesionMapsAgree()
    {
        foreach (var c in Cases.Value)
        {
            long n = (long)c.Shape.X * c.Shape.Y * c.Shape.Z;
            Assert.That(c.Volume.LongLength, Is.EqualTo(n));
            Assert.That(c.Labels.All(l => l <= 2), Is.True);
            double liverFraction = c.Labels.Count(l => l >= 1) / (double)n;
            Assert.That(liverFraction, Is.InRange(0.02, 0.25), $"case {c.Index}: liver fraction");
            Assert.That(c.Lesions, Is.Not.Empty, $"case {c.Index} has lesions");
            long idMismatch = 0, classMismatch = 0, wrongClass = 0;
            for (long v = 0; v < n; v++)
            {
                bool lesion = c.Labels[v] == 2;
                if ((c.LesionIds[v] != 0) != lesion) idMismatch++;
                if ((c.LesionClasses[v] != 0) != lesion) classMismatch++;
                if (lesion && c.LesionClasses[v] != c.Lesions[c.LesionIds[v] - 1].Class) wrongClass++;
            }
            Assert.That((idMismatch, classMismatch, wrongClass), Is.EqualTo((0L, 0L, 0L)), $"case {c.Index}: id map, class map, class per lesion");
            foreach (var l in c.Lesions)
            {
                Assert.That(c.LesionIds.Count(id => id == l.Id), Is.EqualTo(l.Voxels), $"case {c.Index} lesion {l.Id} voxels");
                Assert.That(l.Voxels, Is.GreaterThan(0));
                int i = (int)Math.Round(l.CentreX), j = (int)Math.Round(l.CentreY), k = (int)Math.Round(l.CentreZ);
                Assert.That(c.Labels[i + (long)c.Shape.X * (j + (long)c.Shape.Y * k)], Is.EqualTo(2), $"case {c.Index} lesion {l.Id}: centre is lesion");
            }
        }
    }

    private static double Median(IEnumerable<float> values)
    {
        var s = values.OrderBy(v => v).ToArray();
        return s.Length == 0 ? double.NaN : s[s.Length / 2];
    }

    [Test]
    public void TissuesHaveCtValues()
    {
        foreach (var c in Cases.Value)
        {
            var (nx, ny, nz) = c.Shape;
            // The corners are air; the liver ≈ 60 HU; bone is present (spine); fat below zero.
            var corner = new List<float>();
            for (int k = 0; k < nz; k++)
                for (int j = 0; j < 3; j++)
                    for (int i = 0; i < 3; i++) corner.Add(c.Volume[i + (long)nx * (j + (long)ny * k)]);
            Assert.That(Median(corner), Is.LessThan(-950), $"case {c.Index}: air");
            var liver = Enumerable.Range(0, c.Labels.Length).Where(v => c.Labels[v] == 1).Select(v => c.Volume[v]);
            Assert.That(Median(liver), Is.InRange(45, 80), $"case {c.Index}: liver HU");
            Assert.That(c.Volume.Max(), Is.GreaterThan(450), $"case {c.Index}: bone");
            Assert.That(c.Volume.Count(v => v is > -200 and < -50), Is.GreaterThan(nx * ny), $"case {c.Index}: fat");
            Assert.That(c.Volume.Min(), Is.GreaterThanOrEqualTo(-1024));
        }
    }

    [Test]
    public void LesionKindsLookTheirPart()
    {
        var seen = new HashSet<PhantomLesionKind>();
        foreach (var c in Cases.Value)
        {
            double liver = Median(Enumerable.Range(0, c.Labels.Length).Where(v => c.Labels[v] == 1).Select(v => c.Volume[v]));
            foreach (var l in c.Lesions.Where(l => l.Voxels >= 20))
            {
                var hu = Enumerable.Range(0, c.LesionIds.Length).Where(v => c.LesionIds[v] == l.Id).Select(v => c.Volume[v]).ToArray();
                double med = Median(hu);
                string what = $"case {c.Index} lesion {l.Id} ({l.Kind}, {l.Voxels} voxels): median {med:0} HU, liver {liver:0}";
                switch (l.Kind)
                {
                    case PhantomLesionKind.Cyst: Assert.That(med, Is.InRange(-10, 30), what); break;
                    case PhantomLesionKind.HyperDense: Assert.That(med, Is.GreaterThan(liver + 20), what); break;
                    case PhantomLesionKind.Metastasis: Assert.That(med, Is.LessThan(liver - 5), what); break;
                    case PhantomLesionKind.Hemangioma:
                        Assert.That(med, Is.LessThan(liver), what);
                        Assert.That(hu.Max(), Is.GreaterThan(liver + 40), what + ": bright peripheral nodules");
                        break;
                }
                seen.Add(l.Kind);
            }
        }
        Assert.That(seen, Is.EquivalentTo(Enum.GetValues<PhantomLesionKind>()), "every kind appears in eight cases");
    }

    [Test]
    public void LesionSizesRunFromAFewVoxelsToCentimetres()
    {
        var all = Cases.Value.SelectMany(c => c.Lesions).ToArray();
        Assert.That(all.Min(l => l.Voxels), Is.LessThanOrEqualTo(10));
        Assert.That(all.Max(l => l.RadiusMm), Is.GreaterThan(15));
        Assert.That(all.Max(l => l.Voxels), Is.GreaterThan(150));
    }

    [Test]
    public void SpacingIsAnisotropicAndCanBeFixed()
    {
        foreach (var c in Cases.Value)
        {
            Assert.That(c.Spacing.X, Is.EqualTo(c.Spacing.Y));
            Assert.That(c.Spacing.Z, Is.GreaterThan(c.Spacing.X * 1.1), $"case {c.Index}: thicker slices than pixels");
        }
        var f = PhantomGenerator.Generate(Small with { Spacing = (5, 5, 7.5) }, 1, 0);
        Assert.That(f.Spacing, Is.EqualTo((5.0, 5.0, 7.5)));
        Assert.That(f.Labels.Count(l => l >= 1), Is.GreaterThan(0));
    }

    [Test]
    public void BadOptionsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => PhantomGenerator.Generate(Small with { X = 8 }, 1, 0));
        Assert.Throws<ArgumentException>(() => PhantomGenerator.Generate(Small with { MinLesions = 3, MaxLesions = 2 }, 1, 0));
        Assert.Throws<ArgumentException>(() => PhantomGenerator.Generate(Small with { Spacing = (1, 0, 1) }, 1, 0));
    }

    [Test]
    public void WriteSetWritesTheLitsLayoutReadBackExactly()
    {
        PhantomGenerator.WriteSet(Dir, 2, 9, Small, gzip: false, classes: true);
        var cases = LitsLayout.Enumerate(Dir);
        Assert.That(cases.Select(c => c.Id), Is.EqualTo(new[] { "0", "1" }));
        var expected = PhantomGenerator.Generate(Small, 9, 1);
        var vol = NiftiReader.Read(cases[1].VolumePath);
        var seg = NiftiReader.ReadLabels(cases[1].SegmentationPath!);
        Assert.That(vol.Header.DataType, Is.EqualTo(NiftiDataType.Int16));
        Assert.That(seg.Header.DataType, Is.EqualTo(NiftiDataType.UInt8));
        Assert.That(seg.Data, Is.EqualTo(expected.Labels));
        Assert.That(vol.Data, Is.EqualTo(expected.Volume.Select(v => MathF.Round(v, MidpointRounding.AwayFromZero))));
        Assert.That(vol.Shape, Is.EqualTo(expected.Shape));
        Assert.That(vol.Spacing.X, Is.EqualTo(expected.Spacing.X).Within(1e-5));
        Assert.That(vol.Spacing.Z, Is.EqualTo(expected.Spacing.Z).Within(1e-5));
        var a = vol.Affine;
        Assert.That(a[0, 0], Is.EqualTo(-expected.Spacing.X).Within(1e-5));
        Assert.That(a[2, 2], Is.EqualTo(expected.Spacing.Z).Within(1e-5));
        Assert.That(seg.Affine, Is.EqualTo(a));
        Assert.That(NiftiReader.ReadLabels(PathOf("lesion-classes-1.nii")).Data, Is.EqualTo(expected.LesionClasses));
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRun.Run(args);

    [Test]
    public void PhantomVerbWritesCasesWithAProgressLineEach()
    {
        var (code, output, err) = Run("phantom", "--out", Dir, "--cases", "2", "--size", "32,32,16", "--seed", "4", "--gz");
        Assert.That(code, Is.Zero, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Count(l => l.StartsWith("case ", StringComparison.Ordinal)), Is.EqualTo(2), output);
        Assert.That(File.Exists(PathOf("volume-1.nii.gz")) && File.Exists(PathOf("segmentation-1.nii.gz")), Is.True);
        var seg = NiftiReader.ReadLabels(PathOf("segmentation-0.nii.gz"));
        Assert.That(seg.Shape, Is.EqualTo((32, 32, 16)));
        Assert.That(seg.Data, Is.EqualTo(PhantomGenerator.Generate(new PhantomOptions { X = 32, Y = 32, Z = 16 }, 4, 0).Labels));
    }

    [TestCase("--size", "32,32", "--size")]
    [TestCase("--size", "a,b,c", "--size")]
    [TestCase("--size", "8,8,8", "phantom size")]
    [TestCase("--cases", "0", "--cases")]
    [TestCase("--spacing", "1,-1,1", "spacing")]
    public void PhantomVerbRefusesBadOptions(string option, string value, string named)
    {
        var (code, _, err) = Run("phantom", "--out", Dir, option, value);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain(named));
    }
}
