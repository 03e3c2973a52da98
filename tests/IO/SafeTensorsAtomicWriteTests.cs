using Kernels.Nets;
using Kernels.Nets.IO;

namespace Kernels.Tests.IO;

/// <summary>Save writes a temporary file and renames it: a failed save leaves the previous file
/// exactly as it was and no temporary file behind.</summary>
public class SafeTensorsAtomicWriteTests : TempFolderTest
{
    private string WriteOriginal(out byte[] bytes)
    {
        var path = PathOf("model.safetensors");
        using var t = Tensor.FromArray(new float[] { 1, 2, 3 }, [3]);
        SafeTensors.Save(path, [new("w", t)], new Dictionary<string, string> { ["v"] = "1" });
        bytes = File.ReadAllBytes(path);
        return path;
    }

    [Test]
    public void TensorDisposedMidWayLeavesTheExistingFileIntact()
    {
        var path = WriteOriginal(out var before);
        using var good = Tensor.Ones([1000]);
        var gone = Tensor.Ones([5]);
        gone.Dispose();
        // The header (shape and dtype) is written first; the disposed tensor fails while its data is written.
        var e = Assert.Throws<ObjectDisposedException>(() => SafeTensors.Save(path, [new("good", good), new("gone", gone)]));
        Assert.That(e!.Message, Does.Contain("disposed"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(TempFiles(), Is.Empty);
        Assert.That(Directory.GetFiles(Dir), Has.Length.EqualTo(1));
    }

    [Test]
    public void TargetThatIsAFolderFailsCleanly()
    {
        var target = PathOf("adir");
        Directory.CreateDirectory(target);
        using var t = Tensor.Ones([2]);
        // The data is written to the temporary file; the rename over the folder is what fails.
        File.WriteAllText(Path.Combine(target, "keep.txt"), "x");
        var e = Assert.Throws<IOException>(() => SafeTensors.Save(target, [new("t", t)]));
        Assert.That(e!.Message, Does.Contain("is a directory"));
        Assert.That(File.ReadAllText(Path.Combine(target, "keep.txt")), Is.EqualTo("x"));
        Assert.That(TempFiles(), Is.Empty);
    }

    [Test]
    public void MissingFolderIsDirectoryNotFound()
    {
        using var t = Tensor.Ones([2]);
        var e = Assert.Throws<DirectoryNotFoundException>(() => SafeTensors.Save(PathOf("no/such/x.safetensors"), [new("t", t)]));
        Assert.That(e!.Message, Does.Contain("no/such"));
    }

    [TestCase("", "empty name"), TestCase("__metadata__", "reserved for the metadata")]
    public void BadNamesAreRefusedBeforeTouchingTheFile(string name, string fragment)
    {
        var path = WriteOriginal(out var before);
        using var t = Tensor.Ones([2]);
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new(name, t)]));
        Assert.That(e!.Message, Does.Contain(fragment));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(TempFiles(), Is.Empty);
    }

    [Test]
    public void DuplicateNamesAreRefused()
    {
        var path = WriteOriginal(out var before);
        using var t = Tensor.Ones([2]);
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [new("a", t), new("a", t)]));
        Assert.That(e!.Message, Does.Contain("'a' is given twice"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
    }

    [Test]
    public void OverwriteReplacesTheFileWhole()
    {
        var path = WriteOriginal(out var before);
        using var t = Tensor.FromArray(new[] { 7.0, 8.0 }, [2]);
        SafeTensors.Save(path, [new("other", t)]);
        Assert.That(File.ReadAllBytes(path), Is.Not.EqualTo(before));
        using var c = SafeTensors.Load(path);
        Assert.That(c.Tensors.Keys, Is.EqualTo(new[] { "other" }));
        Assert.That(c["other"].ToArray<double>(), Is.EqualTo(new[] { 7.0, 8.0 }));
        Assert.That(c.Metadata, Is.Empty);
        Assert.That(TempFiles(), Is.Empty);
    }
}
