"""PyTorch peer of benchmarks/TrainStepBenchmarks.cs and the `kernels bench` train-step cases: one
whole float32 training step (forward, loss, zero_grad(set_to_none), backward, optimizer step), same
models, shapes, losses, optimizers. The 3-D U-Net is `kernels train unet3d` at its defaults
(src/Nets/Models/Lits/UNet.cs, UNetTrainOptions; BenchCases.UNetStepWorkload): its parameter count
goes to stderr and must equal ours (351,179).

flops: an estimate, 3 x the forward FLOPs of the convolutions (transposed ones included) and linear layers (backward costs
about two forwards: the data and the weight gradients); batch norm, ReLU, pooling, the loss and
the optimizer update are left out. It only feeds the GFLOP/s column; the ratio uses the times.

OMP_WAIT_POLICY defaults to PASSIVE here (set it in the environment to override): on the shared,
oversubscribed 2-core machine, OpenMP's spinning workers made PyTorch's 2-thread step up to 5-10x
slower than its 1-thread step, which would flatter us; passive waiting removes most of that.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede OpenMP's start (import torch)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import sys  # noqa: E402

from common import bench, dev, setup, wanted  # noqa: E402


def conv_flops(n, cout, hw, cin, k):
    return 2.0 * n * cout * hw * cin * k * k


def linear_flops(n, fin, fout):
    return 2.0 * n * fin * fout


def make_step(model, opt, x, y):
    def step():
        # setup() turns autograd off globally for the op peers; a training step needs it.
        with torch.enable_grad():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return step


setup(__doc__)
torch.manual_seed(0)

cnn = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).train().to(dev())
sgd = torch.optim.SGD(cnn.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)
cx = torch.randn(32, 3, 32, 32, device=dev())
cy = torch.tensor([(i * 7 + 3) % 10 for i in range(32)], device=dev())
cnn_fwd = conv_flops(32, 32, 32 * 32, 3, 3) + conv_flops(32, 64, 16 * 16, 32, 3) + linear_flops(32, 64, 10)
bench("train step cnn b32 32x32", make_step(cnn, sgd, cx, cy), 3 * cnn_fwd)

mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)).to(dev())
adamw = torch.optim.AdamW(mlp.parameters(), lr=1e-3, weight_decay=1e-2)
mx = torch.randn(128, 784, device=dev())
my = torch.tensor([(i * 7 + 3) % 10 for i in range(128)], device=dev())
mlp_fwd = linear_flops(128, 784, 512) + linear_flops(128, 512, 512) + linear_flops(128, 512, 10)
bench("train step mlp b128", make_step(mlp, adamw, mx, my), 3 * mlp_fwd)


# ---- 3-D U-Net (nnU-Net style, as src/Nets/Models/Lits/UNet.cs): per stage two conv3d k3 p1 (+bias)
# -> InstanceNorm3d(affine, eps 1e-5) -> LeakyReLU(0.01), the first conv of stages 1.. strided 2;
# widths base * 2^s (capped at 320); up: ConvTranspose3d k2 s2, concat [skip, up] on channels, a block
# of two convs; head: conv3d 1x1x1 to the classes. No deep supervision.
UNET_BASE, UNET_DEPTH, UNET_MAX, UNET_CLASSES, UNET_IN = 8, 3, 320, 3, 1
UNET_BATCH, UNET_PATCH = 2, (32, 64, 64)


def unet_width(s):
    return min(UNET_MAX, UNET_BASE << s)


class UNetBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1)
        self.norm1 = nn.InstanceNorm3d(cout, eps=1e-5, affine=True)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1)
        self.norm2 = nn.InstanceNorm3d(cout, eps=1e-5, affine=True)

    def forward(self, x):
        x = F.leaky_relu(self.norm1(self.conv1(x)), 0.01)
        return F.leaky_relu(self.norm2(self.conv2(x)), 0.01)


class UNet3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleList()
        prev = UNET_IN
        for s in range(UNET_DEPTH + 1):
            self.enc.append(UNetBlock(prev, unet_width(s), 2 if s > 0 else 1))
            prev = unet_width(s)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for s in range(UNET_DEPTH - 1, -1, -1):
            self.up.append(nn.ConvTranspose3d(unet_width(s + 1), unet_width(s), 2, 2))
            self.dec.append(UNetBlock(2 * unet_width(s), unet_width(s), 1))
        self.head = nn.Conv3d(unet_width(0), UNET_CLASSES, 1)

    def forward(self, x):
        skips = []
        for s, block in enumerate(self.enc):
            x = block(x)
            if s < UNET_DEPTH:
                skips.append(x)
        for j in range(UNET_DEPTH):
            x = self.up[j](x)
            x = self.dec[j](torch.cat([skips[UNET_DEPTH - 1 - j], x], 1))
        return self.head(x)


def unet_forward_conv_macs(patch, batch):
    """Forward multiply-adds of every convolution, as BenchCases.UNetForwardConvMacs counts them."""
    def voxels(s):
        v = 1.0
        for p in patch:
            v *= p >> s
        return v
    k3, k2 = 3.0 ** len(patch), 2.0 ** len(patch)
    macs, prev = 0.0, UNET_IN
    for s in range(UNET_DEPTH + 1):
        w = unet_width(s)
        macs += voxels(s) * k3 * (prev * w + w * w)
        prev = w
    for s in range(UNET_DEPTH - 1, -1, -1):
        frm, to = unet_width(s + 1), unet_width(s)
        macs += voxels(s + 1) * k2 * frm * to
        macs += voxels(s) * k3 * (2.0 * to * to + to * to)
    macs += voxels(0) * unet_width(0) * UNET_CLASSES
    return batch * macs


def dice_ce(logits, y):
    """Cross-entropy (mean over voxels) + 1 - soft Dice of the foreground classes, the sums over the
    whole batch (batch Dice, smooth 1e-5), as src/Nets/Models/Lits/DiceCeLoss.cs. The one-hot is
    made every step from the labels, as ours does."""
    classes = logits.shape[1]
    ce = F.cross_entropy(logits, y)
    fg = torch.softmax(logits, 1)[:, 1:]
    onehot = F.one_hot(y, classes).permute(0, 4, 1, 2, 3)[:, 1:].to(logits.dtype)
    axes = [0] + list(range(2, logits.dim()))
    intersect = (fg * onehot).sum(axes)
    denominator = (fg.sum(axes) + onehot.sum(axes) + 1e-5).clamp_min(1e-8)
    dice = ((2.0 * intersect + 1e-5) / denominator).mean()
    return ce + (1.0 - dice)


def blob_labels(batch, d, h, w):
    """BenchCases.UNetStepWorkload.BlobLabels: an ellipsoid liver (1) holding two spherical tumours (2)."""
    zz, yy, xx = torch.meshgrid(torch.arange(d, dtype=torch.float64), torch.arange(h, dtype=torch.float64),
                                torch.arange(w, dtype=torch.float64), indexing="ij")
    out = torch.zeros(batch, d, h, w, dtype=torch.long)
    for b in range(batch):
        cz, cy, cx = 0.5 * d, (0.5 + 0.05 * b) * h, 0.5 * w
        rz, ry, rx = 0.3 * d, 0.3 * h, 0.35 * w
        lab = ((((zz - cz) / rz) ** 2 + ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1).long()
        for tz, ty, tx, r in [(0.5 * d, 0.45 * h, 0.4 * w, 0.12 * d), (0.4 * d, 0.6 * h, 0.6 * w, 0.1 * d)]:
            lab[((zz - tz) ** 2 + (yy - ty) ** 2 + (xx - tx) ** 2) <= r * r] = 2
        out[b] = lab
    return out


UNET_NAME = "train step unet3d b2 32x64x64"
if wanted(UNET_NAME):
    torch.manual_seed(1)
    unet = UNet3d().train().to(dev())
    print(f"unet3d parameters: {sum(p.numel() for p in unet.parameters())}", file=sys.stderr)
    # UNetTrainOptions: AdamW lr 3e-3, weight decay 1e-5 (betas 0.9 / 0.999, eps 1e-8 on both sides).
    unet_opt = torch.optim.AdamW(unet.parameters(), lr=3e-3, weight_decay=1e-5)
    ux = torch.randn(UNET_BATCH, UNET_IN, *UNET_PATCH, device=dev())
    uy = blob_labels(UNET_BATCH, *UNET_PATCH).to(dev())

    def unet_step():
        with torch.enable_grad():
            loss = dice_ce(unet(ux), uy)
            unet_opt.zero_grad(set_to_none=True)
            loss.backward()
            unet_opt.step()

    bench(UNET_NAME, unet_step, 3 * 2 * unet_forward_conv_macs(UNET_PATCH, UNET_BATCH))
