"""Reference vectors for the Activation family (forward and backward)."""
import torch
from common import save, seeded

seeded(1)
x = torch.randn(3, 37, dtype=torch.float64) * 3
x[0, :5] = torch.tensor([0.0, -0.0, 1e-8, -1e-8, 20.0], dtype=torch.float64)
g = torch.randn(3, 37, dtype=torch.float64)
out = {"x": x, "g": g}
for name, fn in {
    "relu": torch.relu,
    "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.1),
    "gelu": torch.nn.functional.gelu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}.items():
    xx = x.clone().requires_grad_(True)
    y = fn(xx)
    y.backward(g)
    out[name] = y.detach()
    out[name + ".dx"] = xx.grad
# Audit additions (drawn after the values above, which keep their seeds): a batch-1 input with
# extreme values (saturation of sigmoid / tanh / gelu), leaky relu at the default and a steep slope.
xe = torch.randn(1, 9, dtype=torch.float64) * 4
xe[0, :6] = torch.tensor([-1000.0, -40.0, -8.0, 8.0, 40.0, 1000.0], dtype=torch.float64)
ge = torch.randn(1, 9, dtype=torch.float64)
out.update({"xe": xe, "ge": ge})
for name, fn in {
    "relu": torch.relu,
    "leaky_relu_default": torch.nn.functional.leaky_relu,
    "leaky_relu_steep": lambda t: torch.nn.functional.leaky_relu(t, 1.5),
    "gelu": torch.nn.functional.gelu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}.items():
    xx = xe.clone().requires_grad_(True)
    y = fn(xx)
    y.backward(ge)
    out["xe." + name] = y.detach()
    out["xe." + name + ".dx"] = xx.grad
save("activation", out)
