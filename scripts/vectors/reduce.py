"""Reference vectors for the Reduce family: sum / mean / max / argmax and their gradients."""
import torch
from common import save, seeded

seeded(3)
out = {}


def case(name, x, fn):
    xx = x.clone().requires_grad_(True)
    y = fn(xx)
    g = torch.randn_like(y)
    y.backward(g)
    out[name] = y.detach()
    out[name + ".g"] = g
    out[name + ".dx"] = xx.grad


x = torch.randn(3, 5, 7, dtype=torch.float64)
out["x"] = x
case("sum_all", x, lambda t: t.sum())
case("sum_1", x, lambda t: t.sum(dim=1))
case("sum_02_keep", x, lambda t: t.sum(dim=(0, 2), keepdim=True))
case("sum_m1", x, lambda t: t.sum(dim=-1))
case("sum_01", x, lambda t: t.sum(dim=(0, 1)))
case("mean_all", x, lambda t: t.mean())
case("mean_02", x, lambda t: t.mean(dim=(0, 2)))
case("mean_1_keep", x, lambda t: t.mean(dim=1, keepdim=True))
case("max_1", x, lambda t: t.max(dim=1).values)
case("max_m1", x, lambda t: t.max(dim=-1).values)
case("max_0_keep", x, lambda t: t.max(dim=0, keepdim=True).values)
out["argmax_1"] = x.argmax(dim=1).to(torch.int32)
out["argmax_m1"] = x.argmax(dim=-1).to(torch.int32)

# Ties: small integers, so lanes hold repeated maxima (first one wins).
ties = torch.randint(0, 3, (4, 6, 5)).to(torch.float64)
out["ties"] = ties
case("ties_max_1", ties, lambda t: t.max(dim=1).values)
case("ties_max_m1", ties, lambda t: t.max(dim=-1).values)
out["ties_argmax_1"] = ties.argmax(dim=1).to(torch.int32)
out["ties_argmax_m1"] = ties.argmax(dim=-1).to(torch.int32)

# A row longer than one summation block, and inner rows wider than one work chunk.
# Stored as float32 to keep the file small (forward only; gradients are checked in C#).
long = torch.randn(1, 8300).to(torch.float64)
out["long"] = long.float()
out["long_sum_1"] = long.sum(dim=1)
out["long_mean_all"] = long.mean()
wide = torch.randn(2, 3, 1100).to(torch.float64)
out["wide"] = wide.float()
out["wide_sum_1"] = wide.sum(dim=1).float()
out["wide_max_1"] = wide.max(dim=1).values.float()
out["wide_argmax_1"] = wide.argmax(dim=1).to(torch.int32)
save("reduce", out)
