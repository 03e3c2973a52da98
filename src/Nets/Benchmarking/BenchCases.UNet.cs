using Kernels.Nets.Models.Lits;
using Kernels.Nets.Optim;

namespace Kernels.Nets.Benchmarking;

public static partial class BenchCases
{
    /// <summary>Multiply-adds of one forward pass through every convolution of the U-Net of
    /// <paramref name="c"/> on <paramref name="batch"/> patches of <paramref name="patch"/> voxels
    /// (benchmarks/peer/train_step.py computes the same): the encoder's two k3 convs per stage (the
    /// first strided, or after a max pool), the transposed convs (k2 stride 2: every input voxel
    /// meets Cin·Cout·2^dims weights), the decoder's two k3 convs on the concatenated skip, and the
    /// 1×1 head. Norms, activations, concatenation, the loss and the optimizer are left out.</summary>
    public static double UNetForwardConvMacs(UNetConfig c, IReadOnlyList<int> patch, int batch)
    {
        if (patch.Count != c.Dims) throw new ArgumentException($"UNetForwardConvMacs: {c.Dims}-D net, {patch.Count} patch sizes");
        double k3 = Math.Pow(3, c.Dims), k2 = Math.Pow(2, c.Dims);
        // Voxels per sample at stage s (every size is a multiple of 2^depth, so halving is exact).
        double Voxels(int s) => patch.Aggregate(1.0, (a, p) => a * (p >> s));
        double macs = 0;
        int prev = c.InChannels;
        for (int s = 0; s <= c.Depth; s++)
        {
            int w = c.Width(s);
            macs += Voxels(s) * k3 * ((double)prev * w + (double)w * w);
            prev = w;
        }
        for (int s = c.Depth - 1; s >= 0; s--)
        {
            int from = c.Width(s + 1), to = c.Width(s);
            macs += Voxels(s + 1) * k2 * from * to;
            macs += Voxels(s) * k3 * (2.0 * to * to + (double)to * to);
        }
        macs += Voxels(0) * c.Width(0) * c.Classes;
        return batch * macs;
    }

    /// <summary>One training step of `kernels train unet3d` at its defaults (<see cref="UNetTrainOptions"/>:
    /// width 8, depth 3, instance norm, strided conv, 3 classes; 351,179 parameters) on a fixed
    /// batch: forward, Dice + CE (batch Dice, as the trainer), ZeroGrad, backward, AdamW step with
    /// the trainer's lr and weight decay. Left out of the trainer's step: the cosine schedule's
    /// lr update and reading the loss back (l.Item()), which would add a sync per step.</summary>
    public sealed class UNetStepWorkload : IBenchWorkload
    {
        private readonly UNet _net;
        private readonly AdamW _opt;
        private readonly DiceCeLoss _loss;
        private readonly Tensor _x, _y;

        /// <summary>The trainer's defaults, as the benchmark case uses them.</summary>
        public static UNetTrainOptions Options { get; } = new();

        /// <summary>3 × the forward convolutions' flops (backward ≈ two forwards: data and weight gradients).</summary>
        public static double Flops(UNetTrainOptions o) => 3 * 2 * UNetForwardConvMacs(o.NetConfig, o.Patch, o.Batch);

        public static UNetStepWorkload Create(Device device) => new(device, Options);

        public UNetStepWorkload(Device device, UNetTrainOptions o)
        {
            if (o.Mode != UNetMode.Unet3d) throw new ArgumentException("UNetStepWorkload: 3-D U-Net options expected");
            Rng.Seed(o.Seed);
            _net = new UNet(o.NetConfig, device);
            _net.Train();
            _opt = new AdamW(_net.Parameters(), lr: o.Lr, weightDecay: o.WeightDecay);
            _loss = new DiceCeLoss(o.BatchDice);
            int d = o.Patch[0], h = o.Patch[1], w = o.Patch[2];
            _x = Tensor.Randn([o.Batch, 1, d, h, w], device: device);
            _y = Tensor.FromArray(BlobLabels(o.Batch, d, h, w), new Shape(o.Batch, d, h, w), device);
        }

        /// <summary>The model being trained (for checks of its weights).</summary>
        public UNet Model => _net;

        /// <summary>The fixed batch: images [B, 1, D, H, W] and int32 labels [B, D, H, W].</summary>
        public Tensor Input => _x;
        public Tensor Labels => _y;

        /// <summary>Labels [B, D, H, W]: an ellipsoid "liver" (1) per sample holding two spherical
        /// "tumours" (2), background 0 elsewhere (the peer builds the same map).</summary>
        public static int[] BlobLabels(int batch, int d, int h, int w)
        {
            var y = new int[batch * d * h * w];
            for (int b = 0; b < batch; b++)
            {
                // Fractions of the patch, so any patch size gets blobs of every class.
                double cz = 0.5 * d, cy = (0.5 + 0.05 * b) * h, cx = 0.5 * w;
                double rz = 0.3 * d, ry = 0.3 * h, rx = 0.35 * w;
                (double Z, double Y, double X, double R)[] tumours =
                    [(0.5 * d, 0.45 * h, 0.4 * w, 0.12 * d), (0.4 * d, 0.6 * h, 0.6 * w, 0.1 * d)];
                for (int z = 0; z < d; z++)
                    for (int yy = 0; yy < h; yy++)
                        for (int x = 0; x < w; x++)
                        {
                            double ez = (z - cz) / rz, ey = (yy - cy) / ry, ex = (x - cx) / rx;
                            int label = ez * ez + ey * ey + ex * ex <= 1 ? 1 : 0;
                            foreach (var t in tumours)
                            {
                                double dz = z - t.Z, dy = yy - t.Y, dx = x - t.X;
                                if (dz * dz + dy * dy + dx * dx <= t.R * t.R) label = 2;
                            }
                            y[((b * d + z) * h + yy) * w + x] = label;
                        }
            }
            return y;
        }

        public void Run()
        {
            using var scope = TensorScope.Begin();
            var l = _loss.Forward(_net.Forward(_x), _y);
            _opt.ZeroGrad();
            l.Backward();
            _opt.Step();
        }

        public void Dispose()
        {
            _opt.Dispose();
            _net.Dispose();
            _x.Dispose();
            _y.Dispose();
        }
    }
}
