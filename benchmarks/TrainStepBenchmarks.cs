using BenchmarkDotNet.Attributes;
using Kernels.Nets;
using Kernels.Nets.Modules;
using Kernels.Nets.Optim;
using F = Kernels.Nets.Functional;

namespace Kernels.Benchmarks;

/// <summary>One whole float32 training step on the CPU, timed end to end: forward, cross-entropy,
/// ZeroGrad, backward and the optimizer update, every temporary freed by a TensorScope per step.
/// Descriptions are the join key with benchmarks/peer/train_step.py (the same models, shapes and
/// optimizers in PyTorch). Check: python3 benchmarks/compare.py --filter '*TrainStep*' --peers train_step
/// (a) CNN: Conv2d(3→32,k3,p1)–BN–ReLU–MaxPool2–Conv2d(32→64,k3,p1)–BN–ReLU–GAP–Linear(64→10),
///     batch 32 of 3×32×32, SGD lr 0.01 momentum 0.9 Nesterov weight decay 5e-4;
/// (b) MLP: 784→512→ReLU→512→ReLU→10, batch 128, AdamW lr 1e-3 weight decay 1e-2.</summary>
[Config(typeof(QuickConfig))]
public class TrainStepBenchmarks
{
    private Sequential _cnn = null!, _mlp = null!;
    private Optimizer _sgd = null!, _adamw = null!;
    private Tensor _cnnX = null!, _cnnY = null!, _mlpX = null!, _mlpY = null!;

    [GlobalSetup]
    public void Setup()
    {
        Rng.Seed(0);
        _cnn = new Sequential(
            new Conv2d(3, 32, 3, padding: 1), new BatchNorm2d(32), new ReLU(), new MaxPool2d(2),
            new Conv2d(32, 64, 3, padding: 1), new BatchNorm2d(64), new ReLU(),
            new GlobalAvgPool(), new Linear(64, 10));
        _sgd = new Sgd(_cnn.Parameters(), lr: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true);
        _mlp = new Sequential(new Linear(784, 512), new ReLU(), new Linear(512, 512), new ReLU(), new Linear(512, 10));
        _adamw = new AdamW(_mlp.Parameters(), lr: 1e-3, weightDecay: 1e-2);

        // Inputs are made outside any scope (so no step frees them) and do not require gradients,
        // as in the peer: no dx for the data.
        _cnnX = Tensor.Randn([32, 3, 32, 32]);
        _cnnY = Tensor.FromArray(Labels(32, 10), [32]);
        _mlpX = Tensor.Randn([128, 784]);
        _mlpY = Tensor.FromArray(Labels(128, 10), [128]);
    }

    private static int[] Labels(int n, int classes)
    {
        var y = new int[n];
        for (int i = 0; i < n; i++) y[i] = (i * 7 + 3) % classes;
        return y;
    }

    private static void Step(Module model, Optimizer opt, Tensor x, Tensor y)
    {
        using var scope = TensorScope.Begin();
        var loss = F.CrossEntropy(model.Forward(x), y);
        opt.ZeroGrad();
        loss.Backward();
        opt.Step();
    }

    [Benchmark(Description = "train step cnn b32 32x32")]
    public void Cnn() => Step(_cnn, _sgd, _cnnX, _cnnY);

    [Benchmark(Description = "train step mlp b128")]
    public void Mlp() => Step(_mlp, _adamw, _mlpX, _mlpY);

    [GlobalCleanup]
    public void Cleanup()
    {
        _sgd.Dispose(); _adamw.Dispose();
        _cnn.Dispose(); _mlp.Dispose();
        _cnnX.Dispose(); _cnnY.Dispose(); _mlpX.Dispose(); _mlpY.Dispose();
    }
}
