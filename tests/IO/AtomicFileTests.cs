using Kernels.Nets.IO;

namespace Kernels.Tests.IO;

public class AtomicFileTests : TempFolderTest
{
    [Test]
    public void WritesAndReplacesWithoutLeavingTemporaries()
    {
        var p = PathOf("metrics.json");
        AtomicFile.WriteAllText(p, "{\"a\":1}");
        AtomicFile.WriteAllLines(p, ["x", "y"]);
        Assert.That(File.ReadAllText(p), Is.EqualTo("x\ny\n"));
        Assert.That(Directory.GetFiles(Dir), Is.EqualTo(new[] { p }));
    }

    [Test]
    public void AFailedWriteLeavesTheOldFileAndNoTemporary()
    {
        var p = PathOf("out");
        Directory.CreateDirectory(p); // a directory where the file should go: the rename fails
        Assert.That(() => AtomicFile.WriteAllText(p, "new"), Throws.InstanceOf<IOException>().Or.InstanceOf<UnauthorizedAccessException>());
        Assert.That(Directory.Exists(p), Is.True);
        Assert.That(Directory.GetFiles(Dir), Is.Empty);
    }
}
