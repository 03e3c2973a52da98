"""Reference vectors for F.AttentionDecode (multi-head cross-attention, no projections, dropout 0):
torch's scaled-dot-product composition per head, forward and backward for q, k, v. One case also
goes through torch.nn.functional.multi_head_attention_forward with identity projections, to pin
the composition to PyTorch's own attention."""
import math

import torch
import torch.nn.functional as F
from common import save, seeded


def attention(q, k, v, heads):
    b, nq, d = q.shape
    t = k.shape[1]
    hd = d // heads
    qh = q.reshape(b, nq, heads, hd).permute(0, 2, 1, 3)
    kh = k.reshape(b, t, heads, hd).permute(0, 2, 1, 3)
    vh = v.reshape(b, t, heads, hd).permute(0, 2, 1, 3)
    w = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(hd), dim=-1)
    return (w @ vh).permute(0, 2, 1, 3).reshape(b, nq, d)


seeded(11)
out = {}
cases = {
    # name: (B, K, T, heads, headDim)
    "tiny": (1, 3, 5, 1, 7),
    "heads3": (2, 3, 5, 3, 11),
    "wide": (1, 4, 300, 2, 9),
    "odd": (3, 7, 37, 2, 5),
}
for name, (b, nq, t, heads, hd) in cases.items():
    d = heads * hd
    q = torch.randn(b, nq, d, dtype=torch.float64).requires_grad_(True)
    k = torch.randn(b, t, d, dtype=torch.float64).requires_grad_(True)
    v = torch.randn(b, t, d, dtype=torch.float64).requires_grad_(True)
    g = torch.randn(b, nq, d, dtype=torch.float64)
    o = attention(q, k, v, heads)
    o.backward(g)
    for key, value in (("q", q), ("k", k), ("v", v), ("g", g), ("o", o)):
        out[f"{name}.{key}"] = value.detach()
    for key, value in (("q", q), ("k", k), ("v", v)):
        out[f"{name}.d{key}"] = value.grad
    if name == "heads3":
        # PyTorch's own multi-head attention (sequence-first layout) with identity in/out projections.
        eye = torch.eye(d, dtype=torch.float64)
        ref, _ = F.multi_head_attention_forward(
            q.detach().transpose(0, 1), k.detach().transpose(0, 1), v.detach().transpose(0, 1), d, heads,
            in_proj_weight=None, in_proj_bias=None, bias_k=None, bias_v=None, add_zero_attn=False,
            dropout_p=0.0, out_proj_weight=eye, out_proj_bias=None, training=False, need_weights=False,
            use_separate_proj_weight=True, q_proj_weight=eye, k_proj_weight=eye, v_proj_weight=eye)
        assert torch.allclose(ref.transpose(0, 1), o.detach(), atol=1e-12), "composition differs from torch MHA"
        out[f"{name}.o_mha"] = ref.transpose(0, 1)
save("attention_decode", out, {name: list(shape) for name, shape in cases.items()})
