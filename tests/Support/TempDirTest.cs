namespace Kernels.Tests.Support;

/// <summary>Base of test classes that write files: each test gets a fresh folder
/// (<see cref="Dir"/>) under the system temp path, removed after the test whatever its outcome.</summary>
public abstract class TempDirTest
{
    protected string Dir { get; private set; } = "";

    [SetUp]
    public void CreateTempDir() => Dir = Directory.CreateTempSubdirectory(GetType().Name + "-").FullName;

    [TearDown]
    public void RemoveTempDir()
    {
        if (Directory.Exists(Dir)) Directory.Delete(Dir, recursive: true);
    }
}
