using Kernels.Ilgpu;
using Kernels.Nets;
using Kernels.Nets.Models.MlDecoder;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Profiling;

/// <summary>KernelProfiler on ilgpu-cpu, where counts are deterministic: what one op launches,
/// what is counted outside a session (nothing), and the calls of one ML-Decoder head step (the
/// workload `kernels bench --profile` reports for cuda).</summary>
public class KernelProfilerTests
{
    private static Device Il => IlgpuCpuDevice.Instance;

    [Test]
    public void OneElementwiseAddIsOneLaunchAndOneAllocation()
    {
        using var a = Tensor.FromArray([1f, 2, 3, 4, 5], [5], Il);
        using var b = Tensor.FromArray([10f, 20, 30, 40, 50], [5], Il);
        ProfileReport report;
        Tensor y;
        using (var session = KernelProfiler.Start(Il))
        {
            Assert.That(KernelProfiler.IsActive, Is.True);
            y = F.Add(a, b);
            report = session.Stop();
        }
        using (y)
        {
            Assert.That(KernelProfiler.IsActive, Is.False);
            Assert.That(report.CallsOf(ProfiledKind.Kernel), Is.EqualTo(1), Describe(report));
            Assert.That(report.Rows.Single(r => r.Kind == ProfiledKind.Kernel).Name, Does.StartWith("ElementwiseIlgpu."));
            Assert.That(report.CallsOf(ProfiledKind.Allocation), Is.EqualTo(1), Describe(report));
            Assert.That(report.Rows.Sum(r => r.Calls), Is.EqualTo(2), Describe(report));
            Assert.That(y.ToArray<float>(), Is.EqualTo(new[] { 11f, 22, 33, 44, 55 }));
        }
    }

    [Test]
    public void UploadDownloadAndSynchronizeAreCountedAndNothingOutsideASession()
    {
        using var a = Tensor.FromArray([1f, 2, 3], [3], Il);
        _ = F.Relu(a).ToArray<float>(); // before the session: not counted
        ProfileReport report;
        using (var session = KernelProfiler.Start(Il))
        {
            using var b = Tensor.FromArray([4f, 5, 6], [3], Il);
            _ = b.ToArray<float>();
            Il.Synchronize();
            report = session.Stop();
        }
        Il.Synchronize(); // after: not counted
        Assert.That(report.CallsOf(ProfiledKind.CopyHostToDevice), Is.EqualTo(1), Describe(report));
        Assert.That(report.CallsOf(ProfiledKind.CopyDeviceToHost), Is.EqualTo(1), Describe(report));
        Assert.That(report.CallsOf(ProfiledKind.Synchronize), Is.EqualTo(1), Describe(report));
        Assert.That(report.CallsOf(ProfiledKind.Kernel), Is.EqualTo(0), Describe(report));
    }

    [Test]
    public void ASecondSessionIsRefusedWhileOneRuns()
    {
        using var session = KernelProfiler.Start(Il);
        Assert.Throws<InvalidOperationException>(() => KernelProfiler.Start(Il));
        session.Stop();
        using var again = KernelProfiler.Start(Il);
        Assert.That(again.Stop().Rows, Is.Empty);
    }

    /// <summary>The bench's head step (HeadWorkload.Run) on a tiny head: no host↔device copy and no
    /// synchronisation inside the step; the table goes to the test output (launches per kernel).</summary>
    [Test, Category("Slow")] // ~18 s: ilgpu-cpu compiles and simulates some twenty kernels
    public void TinyMlDecoderHeadStepHasNoCopiesOrSynchronisations()
    {
        Rng.Seed(0);
        using var head = new MlDecoderHead(8, 6, embedDim: 16, heads: 2, feedForward: 32, dropout: 0);
        head.To(Il);
        using var tokens = Tensor.Randn([2, 3, 8], device: Il);
        using var r = Tensor.Randn([2, 6], device: Il);
        void Step()
        {
            using var scope = TensorScope.Begin();
            head.ZeroGrad();
            F.Sum(F.Mul(head.Forward(tokens), r)).Backward();
        }
        Step(); // warm: parameter gradients exist from here on, as in the bench
        ProfileReport report;
        using (var session = KernelProfiler.Start(Il))
        {
            Step();
            report = session.Stop();
        }
        TestContext.Out.WriteLine(Describe(report));
        Assert.That(report.CallsOf(ProfiledKind.Kernel), Is.GreaterThan(0));
        Assert.That(report.CallsOf(ProfiledKind.CopyDeviceToHost), Is.EqualTo(0), Describe(report));
        Assert.That(report.CallsOf(ProfiledKind.Synchronize), Is.EqualTo(0), Describe(report));
    }

    private static string Describe(ProfileReport report) =>
        string.Join("\n", report.Rows.Select(r => $"{r.Kind,-18} {r.Name,-60} {r.Calls,5}"))
        + $"\ntotal kernels {report.CallsOf(ProfiledKind.Kernel)}, allocations {report.CallsOf(ProfiledKind.Allocation)}, "
        + $"uploads {report.CallsOf(ProfiledKind.CopyHostToDevice)}";
}
