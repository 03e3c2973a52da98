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

# Audit additions, drawn after the values above so those keep their seeds. Unary and scalar ops
# on inputs with negatives and exact ties at the clamp bounds; broadcasts against a batch-1
# tensor, a [1, n, 1] tensor and a rank-0 scalar; pow with a negative base and integer exponents.
u = torch.randn(3, 1, 5, dtype=torch.float64) * 2
u[0, 0, :2] = torch.tensor([-0.7, 1.1], dtype=torch.float64)
s0 = torch.tensor(0.37, dtype=torch.float64)
one = torch.randn(1, 5, dtype=torch.float64)
col = torch.randn(1, 4, 1, dtype=torch.float64)
out.update({"u": u, "s0": s0, "one": one, "col": col,
            "neg": -u, "square": u * u, "sign": torch.sign(u), "abs_u": torch.abs(u),
            "exp_u": torch.exp(u), "sin_u": torch.sin(u), "cos_u": torch.cos(u),
            "clamp": torch.clamp(u, -0.7, 1.1), "clamp_min": torch.clamp(u, min=-0.7),
            "clamp_max": torch.clamp(u, max=1.1),
            "add_s": u + 1.25, "mul_s": u * -0.75, "rsub_s": 1.25 - u, "rdiv_s": 1.25 / u,
            "pow_s": torch.pow(pos, 1.5), "pow_s2": torch.pow(u, 2.0), "pow_s3": torch.pow(u, 3.0),
            "pow_sneg": torch.pow(pos, -0.5),
            "u_add_s0": u + s0, "s0_sub_u": s0 - u, "u_mul_s0": u * s0, "s0_div_u": s0 / u,
            "u_max_s0": torch.maximum(u, s0), "u_min_s0": torch.minimum(u, s0),
            "u_mul_one": u * one, "one_sub_u": one - u, "u_div_col": u / col, "col_add_one": col + one,
            "s0_add_s0": s0 + s0, "u_pow_2": torch.pow(u, torch.full((1,), 2.0, dtype=torch.float64))})
save("elementwise", out)
