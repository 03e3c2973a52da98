"""Reference vectors for GroupDecode (the ML-Decoder's group fully connected layer) and its fused
asymmetric loss. The decode is the reference's loop of K matmuls, written as one bmm over the
groups: out[:, k, :] = x[:, k, :] @ w[k], flattened to [B, K*g], cut to N columns, plus bias.
The ASL is the paper's optimized form (clip on the negatives, focusing weight without gradient)."""
import torch
from common import save, seeded

seeded(41)
B, K, D, N = 3, 4, 6, 14
G = (N + K - 1) // K  # 4: K*G = 16 columns, the last 2 are padding
x = torch.randn(B, K, D, dtype=torch.float64)
w = torch.randn(K, D, G, dtype=torch.float64)
bias = torch.randn(N, dtype=torch.float64)


def decode(x, w, bias):
    out = torch.bmm(x.transpose(0, 1), w).transpose(0, 1)  # [B, K, G]
    return out.reshape(x.shape[0], -1)[:, :N] + bias


def asl(logits, y, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, eps=1e-8):
    xs_pos = torch.sigmoid(logits)
    xs_neg = (1 - xs_pos + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    with torch.no_grad():
        pt = xs_pos * y + xs_neg * (1 - y)
        gamma = gamma_pos * y + gamma_neg * (1 - y)
        focus = torch.pow(1 - pt, gamma)
    return -(loss * focus).sum()


xr, wr, br = (t.clone().requires_grad_(True) for t in (x, w, bias))
y = decode(xr, wr, br)
g = torch.randn_like(y)
y.backward(g)

targets = (torch.rand(B, N, dtype=torch.float64) < 0.3).to(torch.float64)
xa, wa, ba = (t.clone().requires_grad_(True) for t in (x, w, bias))
loss = asl(decode(xa, wa, ba), targets)
loss.backward()

save("group_decode", {
    "x": x, "w": w, "bias": bias, "y": y.detach(), "g": g, "dx": xr.grad, "dw": wr.grad, "dbias": br.grad,
    "targets": targets, "asl_loss": loss.detach().reshape(1), "asl_dx": xa.grad, "asl_dw": wa.grad,
    "asl_dbias": ba.grad,
}, {"classes": N})
