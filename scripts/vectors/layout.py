"""Reference vectors for the Layout family: concat, slice, pad, permute, gather, index_select."""
import torch
import torch.nn.functional as F
from common import save, seeded

seeded(5)
out = {}


def grad(name, inputs, fn):
    xs = [t.clone().requires_grad_(True) for t in inputs]
    y = fn(*xs)
    g = torch.randn_like(y)
    y.backward(g)
    out[name] = y.detach()
    out[name + ".g"] = g
    for i, t in enumerate(xs):
        out[f"{name}.dx{i}"] = t.grad


a = torch.randn(2, 3, 4, dtype=torch.float64)
b = torch.randn(2, 1, 4, dtype=torch.float64)
c = torch.randn(2, 5, 4, dtype=torch.float64)
out.update({"a": a, "b": b, "c": c})
grad("concat_1", [a, b, c], lambda *t: torch.cat(t, 1))
d = torch.randn(1, 3, 4, dtype=torch.float64)
out["d"] = d
grad("concat_0", [a, d], lambda *t: torch.cat(t, 0))
e = torch.randn(2, 3, 3, dtype=torch.float64)
out["e"] = e
grad("concat_m1", [a, e], lambda *t: torch.cat(t, -1))

x = torch.randn(3, 7, 5, dtype=torch.float64)
out["x"] = x
grad("slice_1", [x], lambda t: t[:, 2:6])
grad("slice_m1", [x], lambda t: t[..., 4:5])

p = torch.randn(2, 3, 4, 5, dtype=torch.float64)
out["p"] = p
grad("pad_2", [p], lambda t: F.pad(t, (1, 2, 0, 3), value=0.5))
grad("pad_4", [p], lambda t: F.pad(t, (0, 1, 2, 0, 1, 1, 0, 2)))
grad("pad_1", [p], lambda t: F.pad(t, (3, 0), value=-2.0))

for perm in [(0, 2, 1, 3), (3, 1, 0, 2), (0, 1, 3, 2), (1, 0, 2, 3), (2, 3, 0, 1)]:
    grad("permute_" + "".join(map(str, perm)), [p], lambda t, perm=perm: t.permute(*perm))
m = torch.randn(37, 45, dtype=torch.float64)
out["m"] = m
out["transpose_m"] = m.t()
bm = torch.randn(2, 33, 1, 34, dtype=torch.float64)
out["bm"] = bm
out["transpose_bm"] = bm.transpose(1, 3)

gx = torch.randn(4, 6, 5, dtype=torch.float64)
out["gx"] = gx
for name, axis, shape in [("gather_1", 1, (4, 3, 5)), ("gather_2", 2, (3, 6, 7)), ("gather_0", 0, (5, 2, 5))]:
    idx = torch.randint(0, gx.shape[axis], shape)
    out[name + ".index"] = idx.to(torch.int32)
    grad(name, [gx], lambda t, axis=axis, idx=idx: torch.gather(t, axis, idx))
for name, axis, idx in [("isel_1", 1, [5, 0, 5, 2]), ("isel_0", 0, [3, 3, 1]), ("isel_2", 2, [4, 0, 1, 1, 2, 3])]:
    idx = torch.tensor(idx)
    out[name + ".index"] = idx.to(torch.int32)
    grad(name, [gx], lambda t, axis=axis, idx=idx: torch.index_select(t, axis, idx))
save("layout", out)
