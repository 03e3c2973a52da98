"""ML-Decoder head (arXiv 2111.12933): a torch re-statement of the reference head's structure
and forward, in float64 with a small config (C=16, D=24, 3 heads, FFN 32, N=7, K=3 so g=3 and
the last 2 of K*g columns are cut), dropout off. Writes the state dict, the forward on tokens
and on a feature map, and the gradients of sum(out * r) for every parameter and the input.
Also the zero-shot variant (word-vector queries, shared [D, 1] group weight) on Q=4 queries.
Meta: the reference's state-dict names and shapes, trainable parameter counts."""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from common import save, seeded

C, D, HEADS, FFN, N, K, WORD = 16, 24, 3, 32, 7, 3, 10


class DecoderLayer(nn.Module):
    """Post-norm decoder layer with self-attention replaced by q + dropout(q); attribute order
    as the reference's, which fixes the state-dict order."""

    def __init__(self, d_model, nhead, dim_feedforward, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm3 = nn.LayerNorm(d_model, eps=1e-5)

    def forward(self, tgt, memory, **_):
        tgt = self.norm1(tgt + self.dropout1(tgt))
        attn = self.multihead_attn(tgt, memory, memory)[0]
        tgt = self.norm2(tgt + self.dropout2(attn))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(ffn))


class Head(nn.Module):
    """The reference's MLDecoder: everything hangs off self.decoder (an nn.TransformerDecoder
    with extra attributes); sequence-first attention as the reference."""

    def __init__(self, classes, groups, d, c, heads, ffn, dropout, zsl=False):
        super().__init__()
        k = classes if zsl else min(groups, classes)
        self.zsl = zsl
        self.decoder = nn.TransformerDecoder(DecoderLayer(d, heads, ffn, dropout), num_layers=1)
        self.decoder.embed_standart = nn.Linear(c, d)
        if zsl:
            self.wordvec_proj = nn.Linear(WORD, d)
            self.decoder.duplicate_factor = 1
            self.decoder.duplicate_pooling = nn.Parameter(torch.empty(d, 1))
            self.decoder.duplicate_pooling_bias = nn.Parameter(torch.empty(1))
        else:
            self.decoder.query_embed = nn.Embedding(k, d)
            self.decoder.query_embed.requires_grad_(False)
            self.decoder.duplicate_factor = int(classes / k + 0.999)
            self.decoder.duplicate_pooling = nn.Parameter(torch.empty(k, d, self.decoder.duplicate_factor))
            self.decoder.duplicate_pooling_bias = nn.Parameter(torch.empty(classes))
        nn.init.xavier_normal_(self.decoder.duplicate_pooling)
        nn.init.constant_(self.decoder.duplicate_pooling_bias, 0)
        self.decoder.num_classes = classes

    def forward(self, x, words=None):
        if x.dim() == 4:
            x = x.flatten(2).transpose(1, 2)
        mem = F.relu(self.decoder.embed_standart(x))
        bs = mem.shape[0]
        q = F.relu(self.wordvec_proj(words)) if self.zsl else self.decoder.query_embed.weight
        tgt = q.unsqueeze(1).expand(-1, bs, -1)
        h = self.decoder(tgt, mem.transpose(0, 1)).transpose(0, 1)  # [B, K, D]
        w = self.decoder.duplicate_pooling
        # The reference's group FC: one matmul per query.
        cols = [h[:, i, :] @ (w if w.dim() == 2 else w[i]) for i in range(h.shape[1])]
        out = torch.stack(cols, 1).flatten(1)
        if not self.zsl:
            out = out[:, :self.decoder.num_classes]
        return out + self.decoder.duplicate_pooling_bias


seeded(41)
meta, out = {}, {}
head = Head(N, K, D, C, HEADS, FFN, 0.0).double()
with torch.no_grad():
    # Non-zero biases and LayerNorm affines so every parameter matters.
    for name, p in head.named_parameters():
        if name.endswith("bias") or "norm" in name:
            p.add_(torch.randn_like(p) * 0.3)
meta["state"] = [[k, list(v.shape)] for k, v in head.decoder.state_dict().items()]
meta["count"] = sum(p.numel() for p in head.parameters() if p.requires_grad)
for k, v in head.decoder.state_dict().items():
    out["state." + k] = v
x = torch.randn(2, 5, C, dtype=torch.float64, requires_grad=True)
y = head(x)
r = torch.randn_like(y)
(y * r).sum().backward()
out.update({"x": x, "out": y, "r": r, "grad.x": x.grad})
for k, p in head.decoder.named_parameters():
    if p.requires_grad:
        out["grad." + k] = p.grad
fmap = torch.randn(2, C, 2, 3, dtype=torch.float64)
with torch.no_grad():
    out["fmap"], out["fmap.out"] = fmap, head(fmap)

# Zero-shot: Q word vectors [Q, WORD].
zs = Head(N, K, D, C, HEADS, FFN, 0.0, zsl=True).double()
with torch.no_grad():
    for name, p in zs.named_parameters():
        if name.endswith("bias") or "norm" in name:
            p.add_(torch.randn_like(p) * 0.3)
sd = dict(zs.decoder.state_dict())
sd.update({"wordvec_proj." + k: v for k, v in zs.wordvec_proj.state_dict().items()})
for k, v in sd.items():
    out["zsl.state." + k] = v
meta["zsl.state"] = [[k, list(v.shape)] for k, v in sd.items()]
words = torch.randn(4, WORD, dtype=torch.float64)
zx = torch.randn(2, 5, C, dtype=torch.float64, requires_grad=True)
zy = zs(zx, words)
zr = torch.randn_like(zy)
(zy * zr).sum().backward()
out.update({"zsl.x": zx, "zsl.words": words, "zsl.out": zy, "zsl.r": zr, "zsl.grad.x": zx.grad})
for k, p in list(zs.decoder.named_parameters()) + [("wordvec_proj." + k, p) for k, p in zs.wordvec_proj.named_parameters()]:
    out["zsl.grad." + k] = p.grad

save("ml_decoder", out, meta)
