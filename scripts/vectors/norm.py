"""Reference vectors for the Norm family: batch norm (training with running-stat updates, and
inference), layer, group and instance norm, forward and gradients for x, weight and bias.
Case parameters are mirrored in tests/Pool/NormTests.cs."""
import torch
import torch.nn.functional as F
from common import save, seeded

seeded(5)
out = {}
r = lambda *s: torch.randn(*s, dtype=torch.float64)


def case(name, x, fn, weight=None, bias=None, extra=None):
    xx = x.clone().requires_grad_(True)
    ww = weight.clone().requires_grad_(True) if weight is not None else None
    bb = bias.clone().requires_grad_(True) if bias is not None else None
    y = fn(xx, ww, bb)
    g = torch.randn(y.shape, dtype=torch.float64)
    y.backward(g)
    out[name + ".x"] = x
    out[name + ".y"] = y.detach()
    out[name + ".g"] = g
    out[name + ".dx"] = xx.grad
    if ww is not None:
        out[name + ".w"] = weight
        out[name + ".dw"] = ww.grad
    if bb is not None:
        out[name + ".b"] = bias
        out[name + ".db"] = bb.grad
    for k, v in (extra or {}).items():
        out[name + "." + k] = v


def batch_case(name, x, affine, training, momentum=0.1, eps=1e-5):
    c = x.shape[1]
    rm0 = r(c) * 0.5
    rv0 = torch.rand(c, dtype=torch.float64) + 0.5
    rm, rv = rm0.clone(), rv0.clone()
    w = r(c) if affine else None
    b = r(c) if affine else None
    case(name, x, lambda t, ww, bb: F.batch_norm(t, rm, rv, ww, bb, training, momentum, eps), w, b,
         {"rm0": rm0, "rv0": rv0, "rm": rm, "rv": rv})


batch_case("bn2d_train", r(4, 3, 5, 6) * 2 + 1, True, True)
batch_case("bn2d_eval", r(2, 3, 5, 6) * 2 + 1, True, False)
batch_case("bn2d_plain", r(3, 2, 3, 3), False, True, momentum=0.3, eps=1e-3)
batch_case("bn1d_nc", r(6, 4) * 3 - 2, True, True)
batch_case("bn1d_ncl", r(3, 4, 7), True, True)
batch_case("bn3d_train", r(2, 3, 3, 4, 5), True, True)

case("ln_last", r(3, 5, 7) * 2 + 3, lambda t, w, b: F.layer_norm(t, (7,), w, b), r(7), r(7))
case("ln_two", r(3, 5, 7), lambda t, w, b: F.layer_norm(t, (5, 7), w, b), r(5, 7), r(5, 7))
case("ln_plain", r(1, 9), lambda t, w, b: F.layer_norm(t, (9,), None, None, 1e-3))

case("gn_3", r(2, 6, 5, 4) + 2, lambda t, w, b: F.group_norm(t, 3, w, b), r(6), r(6))
case("gn_1", r(1, 4, 3, 5), lambda t, w, b: F.group_norm(t, 1, w, b), r(4), r(4))
case("gn_all", r(2, 4, 7), lambda t, w, b: F.group_norm(t, 4, w, b), r(4), r(4))
case("gn_3d", r(2, 4, 2, 3, 3), lambda t, w, b: F.group_norm(t, 2, None, None))

case("in_2d", r(2, 3, 5, 7) * 2 - 1, lambda t, w, b: F.instance_norm(t, weight=w, bias=b), r(3), r(3))
case("in_3d", r(1, 2, 3, 4, 5), lambda t, w, b: F.instance_norm(t))
case("in_1d", r(2, 3, 6), lambda t, w, b: F.instance_norm(t, weight=w, bias=b, eps=1e-3), r(3), r(3))
save("norm", out)
