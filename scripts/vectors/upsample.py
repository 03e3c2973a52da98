"""Reference vectors for the Upsample family: nearest and (bi/tri)linear resizing to a given
size, with align_corners true and false, forward and gradient. Case parameters are mirrored in
tests/Pool/UpsampleTests.cs."""
import torch
import torch.nn.functional as F
from common import save, seeded

seeded(4)
out = {}


def case(name, x, size, mode, align=None):
    xx = x.clone().requires_grad_(True)
    y = F.interpolate(xx, size=size, mode=mode, align_corners=align)
    g = torch.randn(y.shape, dtype=torch.float64)
    y.backward(g)
    out[name + ".x"] = x
    out[name + ".y"] = y.detach()
    out[name + ".g"] = g
    out[name + ".dx"] = xx.grad


r = lambda *s: torch.randn(*s, dtype=torch.float64)
x2 = r(2, 3, 5, 7)
x3 = r(1, 2, 3, 4, 5)
x1 = r(2, 3, 7)
case("nearest2_up", x2, (9, 11), "nearest")
case("nearest2_double", x2, (10, 14), "nearest")
case("nearest2_down", x2, (3, 4), "nearest")
case("nearest2_same", x2, (5, 7), "nearest")
case("nearest3_up", x3, (5, 7, 6), "nearest")
case("nearest3_down", x3, (2, 3, 3), "nearest")
case("nearest1", x1, (12,), "nearest")
for ac in (False, True):
    s = "_ac" if ac else ""
    case("bilinear_up" + s, x2, (9, 11), "bilinear", ac)
    case("bilinear_down" + s, x2, (3, 4), "bilinear", ac)
    case("bilinear_one" + s, x2, (1, 6), "bilinear", ac)
    case("trilinear_up" + s, x3, (5, 7, 9), "trilinear", ac)
    case("trilinear_down" + s, x3, (2, 3, 3), "trilinear", ac)
    case("linear1" + s, x1, (12,), "linear", ac)
save("upsample", out)
