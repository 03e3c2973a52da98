"""PyTorch peer of the ML-Decoder cases of `kernels bench` / BenchCases: the head's forward + backward,
the fused asymmetric loss forward + backward, group decoding forward + backward and the 256 MiB
device copy (the bandwidth floor), float32, same shapes, same math, same "bytes" per call.

head: input projection Linear(C→768)+ReLU, K frozen queries, one decoder layer without
self-attention (t = LN1(q + dropout(q)), 8-head cross-attention, LN2, FFN 768→2048→768, LN3; post-norm,
dropout off for timing), group decoding as one batched matmul (the reference loops over K groups;
a bmm is the fair, faster peer), bias; the backward is that of sum(logits · r) for a fixed random
r, so both sides time the same backward through every parameter.
asl: the reference's formulation (sigmoid, clip 0.05 shift of the negatives, log clamps at 1e-8,
focusing weight (1 − pt)^γ computed without grad, γ− = 4, γ+ = 0), summed, then backward.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import bench, dev, setup, wanted


class Head(nn.Module):
    def __init__(self, c, n, k, d=768, heads=8, ffn=2048):
        super().__init__()
        self.k, self.n = k, n
        self.g = int(n / k + 0.999)
        self.embed = nn.Linear(c, d)
        self.query = nn.Parameter(torch.randn(k, d), requires_grad=False)
        self.attn = nn.MultiheadAttention(d, heads, dropout=0.0)
        self.linear1, self.linear2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.pool = nn.Parameter(nn.init.xavier_normal_(torch.empty(k, d, self.g)))
        self.bias = nn.Parameter(torch.zeros(n))

    def forward(self, tokens):  # tokens [B, T, C]
        b = tokens.shape[0]
        mem = F.relu(self.embed(tokens)).transpose(0, 1)          # [T, B, D]
        t = self.query.unsqueeze(1).expand(-1, b, -1)             # [K, B, D]
        t = self.norm1(t + t)                                      # q + dropout(q), dropout off
        t = self.norm2(t + self.attn(t, mem, mem, need_weights=False)[0])
        t = self.norm3(t + self.linear2(F.relu(self.linear1(t))))
        out = torch.bmm(t, self.pool)                              # [K, B, g]
        return out.permute(1, 0, 2).reshape(b, -1)[:, :self.n] + self.bias


def asl(x, y, gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-8):
    xs_pos = torch.sigmoid(x)
    xs_neg = (1 - xs_pos + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    with torch.no_grad():
        pt = xs_pos * y + xs_neg * (1 - y)
        w = torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
    return -(loss * w).sum()


setup(__doc__)
torch.manual_seed(0)

B, T, C, K, N = 16, 49, 2048, 80, 80
head = Head(C, N, K).to(dev()).train()
tokens = torch.randn(B, T, C, device=dev())
r = torch.randn(B, N, device=dev())


def head_step():
    with torch.enable_grad():
        head.zero_grad(set_to_none=True)
        (head(tokens) * r).sum().backward()


d = 768
head_fwd = 2.0 * B * (T * C * d + K * d * d + 2 * T * d * d + 2 * K * T * d + K * d * d + 2 * K * d * 2048 + K * d * head.g)
bench(f"ml-decoder head fwd+bwd b{B} t{T} c{C} k{K}", head_step, 3 * head_fwd)


def asl_case(b, n):
    """The loss forward + backward on [b, n] logits with ~1% positives. bytes: logits and targets
    read, the gradient written (as BenchCases.AslBytes counts it)."""
    name = f"asl fwd+bwd b{b} n{n}"
    if not wanted(name):
        return
    logits = torch.randn(b, n, device=dev()) * 3
    targets = (torch.rand(b, n, device=dev()) < 0.01).float()

    def asl_step():
        with torch.enable_grad():
            x = logits.detach().requires_grad_(True)
            asl(x, targets).backward()

    bench(name, asl_step, 0, 3.0 * b * n * 4)


def group_decode_case(b, k, d, n):
    """Group decoding with the engine's layout, x [b, k, d], w [k, d, g], logits [b, n] (the first n of
    the k·g columns), then the backward of sum(logits · r) into dx and dw: three bmm calls, as
    BenchCases.GroupDecodeWorkload makes its forward and backward launches (no autograd on either
    side). dx comes out as [k, b, d] (a transposed view of x's layout), the rest in the engine's
    layouts; the padding of r to k·g columns and the logits' permute are part of the timed call."""
    g = -(-n // k)
    name = f"group decode fwd+bwd b{b} k{k} d{d} g{g}"
    if not wanted(name):
        return
    x = torch.randn(b, k, d, device=dev())
    w = torch.randn(k, d, g, device=dev()) * 0.05
    r = torch.randn(b, n, device=dev())

    def step():
        xt = x.transpose(0, 1)                                              # [k, b, d] view
        y = torch.bmm(xt, w).transpose(0, 1).reshape(b, k * g)[:, :n]       # logits [b, n]
        dy = F.pad(r, (0, k * g - n)).view(b, k, g).transpose(0, 1)         # [k, b, g]
        dx = torch.bmm(dy, w.transpose(1, 2))                               # [k, b, d]
        dw = torch.bmm(xt.transpose(1, 2), dy)                              # [k, d, g]
        return y, dx, dw

    elements = 3.0 * b * k * d + 3.0 * k * d * g + 2.0 * b * n  # forward x, w, y; backward x, w, dy, dx, dw
    bench(name, step, 3 * 2.0 * b * n * d, elements * 4)


def copy_case(mebibytes):
    """The card's practical bandwidth floor: one device-to-device copy, read + write."""
    name = f"copy d2d {mebibytes}MiB"
    if not wanted(name):
        return
    x = torch.full((mebibytes * (1 << 20) // 4,), 1.5, device=dev())
    y = torch.zeros_like(x)
    bench(name, lambda: y.copy_(x), 0, 2.0 * mebibytes * (1 << 20))
    del x, y


asl_case(64, 9605)
# Issue 7: the bandwidth cases of BenchCases.Bandwidth.cs, same names and byte counts.
copy_case(256)
asl_case(1024, 9605)
group_decode_case(64, 100, 768, 9605)   # the paper's 9605 classes (g = 97)
group_decode_case(16, 80, 768, 80)      # COCO: 80 groups of one class
