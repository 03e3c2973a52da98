namespace Kernels.Ops.Elementwise;

/// <summary>A broadcast for the ILGPU kernels, which take no arrays of dims: the coalesced plan's
/// outer axes are passed as four (dim, a-stride, b-stride) scalar triples (leading ones padded with
/// extent 1); a plan with more outer axes is cut on the host into launches over the last four,
/// each with its own base offsets.</summary>
internal readonly struct IlgpuBroadcast
{
    public const int KernelAxes = 4;

    private readonly BroadcastPlan _plan;

    public IlgpuBroadcast(BroadcastShape shape) => _plan = BroadcastPlan.Create(shape);

    public int Inner => _plan.Inner;
    public int AInner => _plan.AInnerStride;
    public int BInner => _plan.BInnerStride;

    /// <summary>Extent, a-stride and b-stride of kernel axis k (0 outermost), for a plan whose
    /// leading axes beyond four are handled on the host.</summary>
    public (int Dim, long A, long B) Axis(int k)
    {
        int outer = _plan.OuterDims.Length;
        int j = outer - KernelAxes + k;
        return j < 0 ? (1, 0, 0) : (_plan.OuterDims[j], _plan.AStrides[j], _plan.BStrides[j]);
    }

    /// <summary>Elements one launch covers (the last four outer axes times the inner row).</summary>
    public long LaunchElements
    {
        get
        {
            long n = _plan.Inner;
            for (int k = 0; k < KernelAxes; k++) n *= Axis(k).Dim;
            return _plan.Rows == 0 ? 0 : n;
        }
    }

    /// <summary>Launches needed: the product of the outer axes beyond the kernel's four.</summary>
    public long Launches
    {
        get
        {
            if (_plan.Rows == 0) return 0;
            long n = 1;
            for (int j = 0; j < _plan.OuterDims.Length - KernelAxes; j++) n *= _plan.OuterDims[j];
            return n;
        }
    }

    /// <summary>Base offsets in a, b and y of host launch <paramref name="launch"/>.</summary>
    public (long A, long B, long Y) Offsets(long launch)
    {
        long a = 0, b = 0;
        long rest = launch;
        for (int j = _plan.OuterDims.Length - KernelAxes - 1; j >= 0; j--)
        {
            long q = rest / _plan.OuterDims[j];
            long r = rest - q * _plan.OuterDims[j];
            a += r * _plan.AStrides[j];
            b += r * _plan.BStrides[j];
            rest = q;
        }
        return (a, b, launch * LaunchElements);
    }
}
