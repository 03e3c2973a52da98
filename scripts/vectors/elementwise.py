"""Reference vectors for the Elementwise family: broadcasting binaries and unary math."""
import torch
from common import save, seeded

seeded(2)
a = torch.randn(2, 1, 5, 3, dtype=torch.float64)
b = torch.randn(4, 1, 3, dtype=torch.float64)
pos = torch.rand(2, 7, dtype=torch.float64) + 0.5
out = {"a": a, "b": b, "pos": pos,
       "add": a + b, "sub": a - b, "mul": a * b, "div": a / b,
       "max": torch.maximum(a, b), "min": torch.minimum(a, b),
       "pow": torch.pow(pos, pos.flip(1)),
       "exp": torch.exp(a), "log": torch.log(pos), "sqrt": torch.sqrt(pos), "rsqrt": torch.rsqrt(pos),
       "abs": torch.abs(a), "reciprocal": torch.reciprocal(pos), "sin": torch.sin(a), "cos": torch.cos(a),
       "sum_to_b": (a + b).sum(dim=0).sum(dim=1, keepdim=True)}
save("elementwise", out)
