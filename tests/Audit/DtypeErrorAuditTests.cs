using Kernels.Nets;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Audit;

/// <summary>Every float op given an int32 tensor (or mixed float dtypes), and every index op given a
/// float index, must refuse it with an ArgumentException that names the op — not a kernel's
/// NotSupportedException or a wrong answer. (F.MatMul / F.Linear on int32 still throw the Gemm
/// kernel's NotSupportedException: their file belongs to the gemm engineer; see docs/op-coverage.md.)</summary>
public class DtypeErrorAuditTests
{
    private static Tensor I(params int[] shape) => Tensor.FromArray(new int[shape.Aggregate(1, (a, b) => a * b)], shape);

    private static IEnumerable<TestCaseData> IntInputs()
    {
        yield return Case("Relu", () => F.Relu(I(2, 3)));
        yield return Case("Gelu", () => F.Gelu(I(2, 3)));
        yield return Case("Sum", () => F.Sum(I(2, 3)));
        yield return Case("Mean", () => F.Mean(I(2, 3)));
        yield return Case("Max", () => F.Max(I(2, 3), 1));
        yield return Case("ArgMax", () => F.ArgMax(I(2, 3), 1));
        yield return Case("Softmax", () => F.Softmax(I(2, 3)));
        yield return Case("LogSoftmax", () => F.LogSoftmax(I(2, 3)));
        yield return Case("MaxPool2d", () => F.MaxPool2d(I(1, 1, 4, 4), 2));
        yield return Case("AvgPool3d", () => F.AvgPool3d(I(1, 1, 2, 2, 2), 2));
        yield return Case("GlobalAvgPool", () => F.GlobalAvgPool(I(1, 2, 3, 3)));
        yield return Case("UpsampleNearest", () => F.UpsampleNearest(I(1, 1, 2, 2), [4, 4]));
        yield return Case("UpsampleLinear", () => F.UpsampleLinear(I(1, 1, 2, 2), [4, 4]));
        yield return Case("BatchNorm", () => F.BatchNorm(I(2, 3, 2), null, null, null, null, true));
        yield return Case("LayerNorm", () => F.LayerNorm(I(2, 3), [3], null, null));
        yield return Case("GroupNorm", () => F.GroupNorm(I(2, 4, 3), 2, null, null));
        yield return Case("InstanceNorm", () => F.InstanceNorm(I(2, 3, 4), null, null));
        yield return Case("Dropout", () => F.Dropout(I(2, 3), 0.5, true, new Rng(1)));
        yield return Case("MseLoss", () => F.MseLoss(I(2, 3), I(2, 3)));
        yield return Case("L1Loss", () => F.L1Loss(I(2, 3), I(2, 3)));
        yield return Case("BinaryCrossEntropyWithLogits", () => F.BinaryCrossEntropyWithLogits(I(2, 3), I(2, 3)));
        yield return Case("Embedding", () => F.Embedding(Tensor.Zeros([2]), Tensor.Zeros([4, 3])));
        yield return Case("Gather", () => F.Gather(Tensor.Zeros([2, 3]), 1, Tensor.Zeros([2, 2])));
        yield return Case("IndexSelect", () => F.IndexSelect(Tensor.Zeros([2, 3]), 1, Tensor.Zeros([2])));
        yield return Case("CrossEntropy", () => F.CrossEntropy(Tensor.Zeros([2, 3]), Tensor.Zeros([2])));
        yield return Case("Concat", () => F.Concat([Tensor.Zeros([2, 3]), Tensor.Zeros([2, 3], DType.F64)], 0));
        yield return Case("LayerNorm", () => F.LayerNorm(Tensor.Zeros([2, 3]), [3], Tensor.Zeros([3], DType.F64), null));
        yield return Case("BatchNorm", () => F.BatchNorm(Tensor.Zeros([2, 3]), null, null, Tensor.Zeros([3], DType.F64), Tensor.Ones([3], DType.F64), false));
    }

    private static TestCaseData Case(string op, TestDelegate call) => new TestCaseData(op, call).SetArgDisplayNames(op);

    [TestCaseSource(nameof(IntInputs))]
    public void WrongDtypesAreRefusedNamingTheOp(string op, TestDelegate call)
    {
        using var scope = TensorScope.Begin();
        var ex = Assert.Throws<ArgumentException>(call);
        Assert.That(ex!.Message, Does.Contain(op));
    }
}
