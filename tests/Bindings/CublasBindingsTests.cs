using Kernels.Bindings.Cublas;
using Kernels.Bindings.Cuda;

namespace Kernels.Tests.Bindings;

/// <summary>cuBLAS / cuBLASLt load and fail cleanly without a GPU.</summary>
public class CublasBindingsTests
{
    [Test]
    public void Cublas_Loads_AndCreateWithoutGpu_FailsNamingCallAndStatus()
    {
        if (!Cublas.IsAvailable) Assert.Inconclusive($"cuBLAS is not installed: {Cublas.Reason}");
        Assert.That(Cublas.Version.Major, Is.GreaterThanOrEqualTo(11));
        if (CudaDriver.TryInitialize(out _)) Assert.Inconclusive("this machine has a GPU: cublasCreate would succeed");
        var e = Assert.Throws<CublasException>(() => Cublas.Create().Dispose())!;
        TestContext.Out.WriteLine($"{Cublas.Library.LoadedName} {Cublas.Version}: {e.Message}");
        Assert.Multiple(() =>
        {
            Assert.That(e.Call, Is.EqualTo("cublasCreate_v2"));
            Assert.That(e.Status, Is.Not.Zero);
            Assert.That(e.Message, Does.StartWith("cublasCreate_v2 failed: CUBLAS_STATUS_"));
            Assert.That(e.Message, Does.Contain($"({e.Status})"));
        });
    }

    [Test]
    public void CublasLt_Loads_AndReportsItsVersion()
    {
        if (!CublasLt.IsAvailable) Assert.Inconclusive($"cuBLASLt is not installed: {CublasLt.Reason}");
        Assert.That(CublasLt.Version, Is.GreaterThanOrEqualTo(110000), "major·10000 + minor·100 + patch");
        Assert.That(CublasLt.Library.Names, Does.Contain(CublasLt.Library.LoadedName));
    }

    [Test]
    public void CublasLt_Descriptors_AreBuiltWithoutGpu_AndBiasIsChecked()
    {
        if (!CublasLt.IsAvailable) Assert.Inconclusive($"cuBLASLt is not installed: {CublasLt.Reason}");
        using (var desc = CublasLt.CreateMatmulDesc(CublasOperation.Transpose, CublasOperation.None, CublasLtEpilogue.GeluBias, bias: 0x1000))
            Assert.That(desc.IsInvalid, Is.False);
        using (var layout = CublasLt.CreateLayout(CudaDataType.BFloat16, 65, 17, 65))
            Assert.That(layout.IsInvalid, Is.False);
        Assert.That(() => CublasLt.CreateMatmulDesc(CublasOperation.None, CublasOperation.None, CublasLtEpilogue.ReluBias),
            Throws.ArgumentException.With.Message.Contains("needs a bias"));
        Assert.That(() => CublasLt.CreateLayout(CudaDataType.Float32, 10, 4, 9),
            Throws.ArgumentException.With.Message.Contains("ld >= rows"));
    }

    [TestCase(1, "CUBLAS_STATUS_NOT_INITIALIZED")]
    [TestCase(7, "CUBLAS_STATUS_INVALID_VALUE")]
    [TestCase(13, "CUBLAS_STATUS_EXECUTION_FAILED")]
    public void StatusNames_MatchCublasH(int status, string name)
    {
        Assert.That(Cublas.KnownStatusName(status), Is.EqualTo(name));
        Assert.That(Cublas.Message("cublasSgemm_v2", status), Does.StartWith($"cublasSgemm_v2 failed: {name} ({status})"));
    }

    [Test]
    public void MissingLibrary_ThrowsOnlyWhenUsed_ListingNames()
    {
        if (Cublas.IsAvailable) Assert.Inconclusive("cuBLAS is installed here: the missing-library path cannot be checked");
        foreach (var name in Cublas.Library.Names) Assert.That(Cublas.Reason, Does.Contain(name));
        var e = Assert.Throws<CublasException>(() => Cublas.Create())!;
        Assert.That(e.Message, Does.Contain(Cublas.Library.Names[0]));
    }
}
