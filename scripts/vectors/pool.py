"""Reference vectors for the Pool family: max / average pooling 2-D and 3-D (forward and the
gradient for a given upstream g) and global average pooling. Case parameters are mirrored in
tests/Pool/PoolTests.cs."""
import torch
import torch.nn.functional as F
from common import save, seeded

seeded(3)
out = {}


def case(name, x, fn):
    xx = x.clone().requires_grad_(True)
    y = fn(xx)
    g = torch.randn(y.shape, dtype=torch.float64)
    y.backward(g)
    out[name + ".x"] = x
    out[name + ".y"] = y.detach()
    out[name + ".g"] = g
    out[name + ".dx"] = xx.grad


r = lambda *s: torch.randn(*s, dtype=torch.float64)
# Max pooling: odd sizes, stride 2 with padding, batch 1, per-axis parameters, 3-D.
case("max2_a", r(2, 3, 7, 9), lambda t: F.max_pool2d(t, 3, 2, 1))
case("max2_b", r(1, 1, 5, 5), lambda t: F.max_pool2d(t, 2))
case("max2_rect", r(1, 2, 6, 7), lambda t: F.max_pool2d(t, (2, 3), (1, 2), (1, 1)))
# Integer values: ties inside windows show which maximum receives the gradient.
case("max2_ties", torch.randint(0, 3, (1, 2, 6, 6)).double(), lambda t: F.max_pool2d(t, 3, 1, 1))
case("max3_a", r(2, 2, 5, 6, 7), lambda t: F.max_pool3d(t, 3, 2, 1))
case("max3_b", r(1, 1, 4, 4, 5), lambda t: F.max_pool3d(t, 2))
case("max3_rect", r(1, 2, 3, 5, 6), lambda t: F.max_pool3d(t, (1, 2, 3), (1, 2, 2), (0, 1, 1)))
# Average pooling (count_include_pad = True, PyTorch's default).
case("avg2_a", r(2, 3, 7, 9), lambda t: F.avg_pool2d(t, 3, 2, 1))
case("avg2_b", r(1, 1, 5, 5), lambda t: F.avg_pool2d(t, 2))
case("avg2_rect", r(1, 2, 6, 7), lambda t: F.avg_pool2d(t, (3, 2), (2, 1), (1, 0)))
case("avg3_a", r(1, 2, 5, 6, 7), lambda t: F.avg_pool3d(t, 3, 2, 1))
case("avg3_b", r(2, 1, 4, 4, 5), lambda t: F.avg_pool3d(t, 2))
case("avg3_rect", r(1, 2, 3, 5, 6), lambda t: F.avg_pool3d(t, (3, 2, 1), (2, 1, 1), (1, 1, 0)))
# Global average pooling over every spatial axis.
case("gap_2d", r(2, 3, 5, 7), lambda t: t.mean(dim=(2, 3)))
case("gap_3d", r(1, 4, 3, 4, 5), lambda t: t.mean(dim=(2, 3, 4)))
save("pool", out)
