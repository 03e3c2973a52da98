using Kernels.Nets.Data.Lits;
using Kernels.Nets.Data.Nifti;
using Kernels.Tests.IO;

namespace Kernels.Tests.Lits;

/// <summary>LitsLayout: pairing volume-N with segmentation-N (.nii or .nii.gz) and its errors.</summary>
public class PhantomLayoutTests : TempFolderTest
{
    private void Write(string name, (int, int, int) shape, (double, double, double) spacing)
    {
        var (x, y, z) = shape;
        NiftiWriter.Write(PathOf(name), NiftiImage<byte>.Create(new byte[x * y * z], shape, spacing), NiftiDataType.UInt8);
    }

    private void Pair(string id, string ext = ".nii", string? segExt = null)
    {
        Write($"volume-{id}{ext}", (4, 3, 2), (1, 1, 2));
        Write($"segmentation-{id}{segExt ?? ext}", (4, 3, 2), (1, 1, 2));
    }

    [Test]
    public void PairsCasesInNumericOrderAcrossExtensions()
    {
        Pair("10");
        Pair("2", ".nii.gz");
        Pair("0", ".nii", ".nii.gz");
        File.WriteAllText(PathOf("notes.txt"), "ignored");
        Write("lesion-classes-0.nii", (4, 3, 2), (1, 1, 2));
        var cases = LitsLayout.Enumerate(Dir);
        Assert.That(cases.Select(c => c.Id), Is.EqualTo(new[] { "0", "2", "10" }));
        Assert.That(Path.GetFileName(cases[1].VolumePath), Is.EqualTo("volume-2.nii.gz"));
        Assert.That(Path.GetFileName(cases[0].SegmentationPath), Is.EqualTo("segmentation-0.nii.gz"));
    }

    private InvalidDataException Refused(params string[] fragments)
    {
        var ex = Assert.Throws<InvalidDataException>(() => LitsLayout.Enumerate(Dir))!;
        foreach (var f in fragments) Assert.That(ex.Message, Does.Contain(f));
        return ex;
    }

    [Test]
    public void AVolumeWithoutSegmentationIsAnErrorUnlessAllowed()
    {
        Pair("1");
        Write("volume-3.nii", (4, 3, 2), (1, 1, 2));
        Refused("volume-3.nii", "segmentation-3");
        var cases = LitsLayout.Enumerate(Dir, requireSegmentations: false);
        Assert.That(cases[1].SegmentationPath, Is.Null);
    }

    [Test]
    public void ASegmentationWithoutVolumeIsAnError()
    {
        Pair("1");
        Write("segmentation-4.nii.gz", (4, 3, 2), (1, 1, 2));
        Refused("segmentation-4.nii.gz", "volume-4");
    }

    [Test]
    public void TheSameCaseTwiceIsAnError()
    {
        Pair("1");
        Write("volume-1.nii.gz", (4, 3, 2), (1, 1, 2));
        Refused("volume-1.nii", "volume-1.nii.gz");
    }

    [Test]
    public void MismatchedShapeOrSpacingIsAnError()
    {
        Write("volume-5.nii", (4, 3, 2), (1, 1, 2));
        Write("segmentation-5.nii", (4, 3, 3), (1, 1, 2));
        Refused("segmentation-5.nii", "shape");
        Write("segmentation-5.nii", (4, 3, 2), (1, 1, 2.5));
        Refused("segmentation-5.nii", "spacing");
    }

    [Test]
    public void EmptyOrMissingFoldersAreErrors()
    {
        Refused("no volume-N");
        Assert.Throws<DirectoryNotFoundException>(() => LitsLayout.Enumerate(Path.Combine(Dir, "missing")));
    }
}
