"""PyTorch peer of benchmarks/ConvBenchmarks.cs: float32 conv2d / conv3d (oneDNN), same names."""
import torch
import torch.nn.functional as F

from common import bench, dev, setup


def conv_flops(n, cout, out_spatial, cin_per_group, kernel_volume):
    return 2.0 * n * cout * out_spatial * cin_per_group * kernel_volume


setup(__doc__)
g = torch.Generator().manual_seed(0)
x2 = torch.randn(8, 64, 56, 56, generator=g).to(dev())
w2 = torch.randn(64, 64, 3, 3, generator=g).to(dev())
bench("conv2d fwd b8 64->64 56^2 k3", lambda: F.conv2d(x2, w2, None, padding=1),
      conv_flops(8, 64, 56 * 56, 64, 9))

x3 = torch.randn(2, 32, 32, 32, 32, generator=g).to(dev())
w3 = torch.randn(32, 32, 3, 3, 3, generator=g).to(dev())
f3 = conv_flops(2, 32, 32 ** 3, 32, 27)
bench("conv3d fwd b2 32->32 32^3 k3", lambda: F.conv3d(x3, w3, None, padding=1), f3)

# Backward: the data and weight gradients from a saved graph (forward excluded), like the C# side
# running BackwardData + BackwardWeights.
with torch.enable_grad():
    xg = x3.clone().requires_grad_(True)
    wg = w3.clone().requires_grad_(True)
    y = F.conv3d(xg, wg, None, padding=1)
    dy = torch.randn(y.shape, generator=g).to(dev())
    bench("conv3d bwd b2 32->32 32^3 k3",
          lambda: torch.autograd.grad(y, (xg, wg), dy, retain_graph=True), 2 * f3)

# Issue 5's CPU bar: each backward pass alone (only x, or only w, requires grad, so PyTorch computes
# just that gradient), like the C# side running BackwardData or BackwardWeights.
with torch.enable_grad():
    xd = x3.clone().requires_grad_(True)
    yd = F.conv3d(xd, w3, None, padding=1)
    bench("conv3d bwd-data b2 32->32 32^3 k3",
          lambda: torch.autograd.grad(yd, (xd,), dy, retain_graph=True), f3)
    wd = w3.clone().requires_grad_(True)
    yw = F.conv3d(x3, wd, None, padding=1)
    bench("conv3d bwd-weights b2 32->32 32^3 k3",
          lambda: torch.autograd.grad(yw, (wd,), dy, retain_graph=True), f3)
