"""Reference vectors for F.MatMul and F.Linear (forward and backward) from PyTorch."""
import torch
from common import save, seeded

seeded(3)
out = {}


def case(name, fn, *shapes):
    xs = [torch.randn(*s, dtype=torch.float64).requires_grad_(True) for s in shapes]
    y = fn(*xs)
    g = torch.randn(*y.shape, dtype=torch.float64)
    y.backward(g)
    for i, x in enumerate(xs):
        out[f"{name}.in{i}"] = x.detach()
        out[f"{name}.d{i}"] = x.grad
    out[f"{name}.y"] = y.detach()
    out[f"{name}.g"] = g


case("mm", torch.matmul, (7, 13), (13, 5))
case("bmm", torch.matmul, (3, 4, 9), (3, 9, 6))
case("bcast", torch.matmul, (2, 3, 5, 8), (8, 7))
case("linear", lambda x, w, b: torch.nn.functional.linear(x, w, b), (2, 5, 11), (6, 11), (6,))
case("linear_nobias", lambda x, w: torch.nn.functional.linear(x, w), (9, 4), (3, 4))
save("matmul", out)
