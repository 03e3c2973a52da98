"""PyTorch peer of benchmarks/TrainStepBenchmarks.cs: one whole float32 training step (forward,
cross-entropy, zero_grad(set_to_none), backward, optimizer step), same models, shapes, optimizers.

flops: an estimate, 3 x the forward FLOPs of the convolutions and linear layers (backward costs
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

from common import bench, dev, setup  # noqa: E402


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
