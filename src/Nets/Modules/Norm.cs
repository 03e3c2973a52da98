using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Modules;

/// <summary>Batch normalisation over channel axis 1 with PyTorch's parameters (weight, bias) and
/// buffers (running_mean, running_var, num_batches_tracked; the counter is int32 here).
/// Momentum null means a cumulative average (1 / batches seen), as PyTorch's momentum=None.</summary>
public abstract class BatchNormBase : Module
{
    private readonly int[] _ranks;
    private long _batches;

    private protected BatchNormBase(int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats,
        DType dtype, Device? device, params int[] ranks)
    {
        if (numFeatures <= 0) throw new ArgumentException($"{GetType().Name}: numFeatures must be positive, got {numFeatures}");
        _ranks = ranks;
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        using (TensorScope.Suspend())
        {
            if (affine)
            {
                Weight = RegisterParameter("weight", Tensor.Ones([numFeatures], dtype, device));
                Bias = RegisterParameter("bias", Tensor.Zeros([numFeatures], dtype, device));
            }
            if (trackRunningStats)
            {
                RunningMean = RegisterBuffer("running_mean", Tensor.Zeros([numFeatures], dtype, device));
                RunningVar = RegisterBuffer("running_var", Tensor.Ones([numFeatures], dtype, device));
                NumBatchesTracked = RegisterBuffer("num_batches_tracked", Tensor.Zeros(Shape.Scalar, DType.I32, device));
            }
        }
    }

    public int NumFeatures { get; }
    public double Eps { get; }
    public double? Momentum { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor? RunningMean { get; }
    public Tensor? RunningVar { get; }
    public Tensor? NumBatchesTracked { get; }

    public override Tensor Forward(Tensor x)
    {
        if (Array.IndexOf(_ranks, x.Rank) < 0)
            throw new ArgumentException($"{GetType().Name}: input has shape {x.Shape}, expected rank {string.Join(" or ", _ranks)}");
        if (x.Shape[1] != NumFeatures)
            throw new ArgumentException($"{GetType().Name}: input has shape {x.Shape}, expected {NumFeatures} channels on axis 1");
        bool useBatchStats = IsTraining || RunningMean is null;
        double momentum = Momentum ?? 0;
        if (IsTraining && NumBatchesTracked is not null)
        {
            _batches++;
            // The counter is host-side state mirrored into the buffer so the state dict carries it.
            NumBatchesTracked.Device.Upload<int>([(int)Math.Min(_batches, int.MaxValue)], NumBatchesTracked.Buffer);
            if (Momentum is null) momentum = 1.0 / _batches;
        }
        return F.BatchNorm(x, Weight, Bias, RunningMean, RunningVar, useBatchStats, momentum, Eps);
    }

    protected override void OnStateLoaded()
    {
        if (NumBatchesTracked is not null) _batches = NumBatchesTracked.ToArray<int>()[0];
    }
}

/// <summary>nn.BatchNorm1d: [N, C] or [N, C, L].</summary>
public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true,
    bool trackRunningStats = true, DType dtype = DType.F32, Device? device = null)
    : BatchNormBase(numFeatures, eps, momentum, affine, trackRunningStats, dtype, device, 2, 3);

/// <summary>nn.BatchNorm2d: [N, C, H, W].</summary>
public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true,
    bool trackRunningStats = true, DType dtype = DType.F32, Device? device = null)
    : BatchNormBase(numFeatures, eps, momentum, affine, trackRunningStats, dtype, device, 4);

/// <summary>nn.BatchNorm3d: [N, C, D, H, W].</summary>
public sealed class BatchNorm3d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true,
    bool trackRunningStats = true, DType dtype = DType.F32, Device? device = null)
    : BatchNormBase(numFeatures, eps, momentum, affine, trackRunningStats, dtype, device, 5);

/// <summary>nn.LayerNorm over the trailing <paramref name="normalizedShape"/> axes.</summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, DType dtype = DType.F32,
        Device? device = null)
    {
        NormalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        if (elementwiseAffine)
            using (TensorScope.Suspend())
            {
                Weight = RegisterParameter("weight", Tensor.Ones(NormalizedShape, dtype, device));
                Bias = RegisterParameter("bias", Tensor.Zeros(NormalizedShape, dtype, device));
            }
    }

    public LayerNorm(int normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, DType dtype = DType.F32,
        Device? device = null) : this([normalizedShape], eps, elementwiseAffine, dtype, device) { }

    public int[] NormalizedShape { get; }
    public double Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => F.LayerNorm(x, NormalizedShape, Weight, Bias, Eps);
}

/// <summary>nn.GroupNorm: channels split into groups, statistics per (sample, group).</summary>
public sealed class GroupNorm : Module
{
    public GroupNorm(int numGroups, int numChannels, double eps = 1e-5, bool affine = true, DType dtype = DType.F32,
        Device? device = null)
    {
        if (numGroups <= 0 || numChannels % numGroups != 0)
            throw new ArgumentException($"GroupNorm: {numGroups} groups must divide {numChannels} channels");
        NumGroups = numGroups;
        Eps = eps;
        if (affine)
            using (TensorScope.Suspend())
            {
                Weight = RegisterParameter("weight", Tensor.Ones([numChannels], dtype, device));
                Bias = RegisterParameter("bias", Tensor.Zeros([numChannels], dtype, device));
            }
    }

    public int NumGroups { get; }
    public double Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => F.GroupNorm(x, NumGroups, Weight, Bias, Eps);
}

/// <summary>nn.InstanceNorm2d / 3d without running statistics (PyTorch's default); affine optional
/// (default off, as PyTorch).</summary>
public abstract class InstanceNormBase : Module
{
    private readonly int _rank;

    private protected InstanceNormBase(int numFeatures, double eps, bool affine, DType dtype, Device? device, int rank)
    {
        _rank = rank;
        NumFeatures = numFeatures;
        Eps = eps;
        if (affine)
            using (TensorScope.Suspend())
            {
                Weight = RegisterParameter("weight", Tensor.Ones([numFeatures], dtype, device));
                Bias = RegisterParameter("bias", Tensor.Zeros([numFeatures], dtype, device));
            }
    }

    public int NumFeatures { get; }
    public double Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != _rank || x.Shape[1] != NumFeatures)
            throw new ArgumentException($"{GetType().Name}: input has shape {x.Shape}, expected rank {_rank} with {NumFeatures} channels");
        return F.InstanceNorm(x, Weight, Bias, Eps);
    }
}

public sealed class InstanceNorm2d(int numFeatures, double eps = 1e-5, bool affine = false, DType dtype = DType.F32,
    Device? device = null) : InstanceNormBase(numFeatures, eps, affine, dtype, device, 4);

public sealed class InstanceNorm3d(int numFeatures, double eps = 1e-5, bool affine = false, DType dtype = DType.F32,
    Device? device = null) : InstanceNormBase(numFeatures, eps, affine, dtype, device, 5);
