using Kernels.Registry;

namespace Kernels.Ops.Optim;

/// <summary>Hyperparameters of one SGD update (PyTorch's torch.optim.SGD rules).
/// <paramref name="FirstStep"/>: the momentum buffer is initialised to the gradient instead of
/// being decayed (PyTorch's "buffer is None" case).</summary>
public readonly record struct SgdStep(double Lr, double Momentum, double Dampening, double WeightDecay, bool Nesterov,
    bool FirstStep, bool Maximize = false);

/// <summary>Hyperparameters of one Adam / AdamW update. <paramref name="Step"/> counts from 1
/// (bias correction). <paramref name="Decoupled"/>: AdamW's p ← p·(1 − lr·wd) instead of L2 in
/// the gradient.</summary>
public readonly record struct AdamStep(double Lr, double Beta1, double Beta2, double Eps, double WeightDecay,
    bool Decoupled, long Step, bool Maximize = false);

/// <summary>Fused in-place optimizer updates over one parameter: one pass, no temporaries.</summary>
public interface IOptimizerUpdate : IKernelFamily
{
    /// <summary>Updates param (and momentumBuffer when Momentum ≠ 0) in place from grad.</summary>
    void Sgd(in SgdStep step, long n, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer? momentumBuffer);

    /// <summary>Updates param, expAvg and expAvgSq in place from grad.</summary>
    void Adam(in AdamStep step, long n, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer expAvg, DeviceBuffer expAvgSq);
}
