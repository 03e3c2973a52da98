"""Reference vectors for the Softmax family (softmax, log-softmax; forward and backward)."""
import torch
from common import save, seeded

seeded(4)
out = {}
inputs = {
    "rows": (torch.randn(4, 7, dtype=torch.float64) * 3, -1),
    "mid": (torch.randn(2, 5, 3, dtype=torch.float64), 1),
    "first": (torch.randn(6, 1, 4, dtype=torch.float64), 0),
    "wide": (torch.randn(1, 2, 520, dtype=torch.float64), 1),
    "batch1": (torch.randn(1, 11, dtype=torch.float64), 1),
}
big = torch.randn(3, 9, dtype=torch.float64)
big[0] += 1000.0  # exp would overflow without the max shift
big[1, :4] = -float("inf")  # partly masked row
big[2] -= 800.0
inputs["big"] = (big, 1)
for name, (x, axis) in inputs.items():
    out[name] = x
    g = torch.randn_like(x)
    out[name + ".g"] = g
    for fn_name, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        xx = x.clone().requires_grad_(True)
        y = fn(xx, axis)
        y.backward(g)
        out[f"{name}.{fn_name}"] = y.detach()
        out[f"{name}.{fn_name}.dx"] = xx.grad
save("softmax", out)
