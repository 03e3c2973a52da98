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
save("activation", out)
