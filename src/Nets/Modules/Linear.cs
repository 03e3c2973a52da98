using F = Kernels.Nets.Functional;

namespace Kernels.Nets.Modules;

/// <summary>y = x·Wᵀ + b with weight [out, in] and bias [out] (PyTorch's nn.Linear, same init).</summary>
public sealed class Linear : Module
{
    public Linear(int inFeatures, int outFeatures, bool bias = true, DType dtype = DType.F32, Device? device = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"Linear: features must be positive, got in {inFeatures}, out {outFeatures}");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var (w, b) = Init.DefaultLayer([outFeatures, inFeatures], outFeatures, bias, dtype, device);
        Weight = RegisterParameter("weight", w);
        if (b is not null) Bias = RegisterParameter("bias", b);
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);
}

/// <summary>A lookup table [numEmbeddings, dim] initialised N(0, 1) like PyTorch's nn.Embedding.</summary>
public sealed class Embedding : Module
{
    public Embedding(int numEmbeddings, int embeddingDim, DType dtype = DType.F32, Device? device = null)
    {
        if (numEmbeddings <= 0 || embeddingDim <= 0)
            throw new ArgumentException($"Embedding: sizes must be positive, got {numEmbeddings} x {embeddingDim}");
        Weight = RegisterParameter("weight", Init.Create([numEmbeddings, embeddingDim], dtype, device, t => Init.Normal(t)));
    }

    public Tensor Weight { get; }

    /// <summary>int32 indices of any shape → [..., dim].</summary>
    public override Tensor Forward(Tensor indices) => F.Embedding(indices, Weight);
}

/// <summary>Inverted dropout, active only in training mode.</summary>
public sealed class Dropout : Module
{
    public Dropout(double p = 0.5)
    {
        if (p is < 0 or >= 1) throw new ArgumentException($"Dropout: p = {p} must be in [0, 1)");
        P = p;
    }

    public double P { get; }

    public override Tensor Forward(Tensor x) => F.Dropout(x, P, IsTraining);
}

/// <summary>Softmax over one axis (default the last).</summary>
public sealed class Softmax(int axis = -1) : Module
{
    public override Tensor Forward(Tensor x) => F.Softmax(x, axis);
}
