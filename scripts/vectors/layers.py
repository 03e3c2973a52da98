"""Reference vectors for the layers (nn modules) on awkward shapes: each layer's PyTorch state
dict, an input x, the output y, an upstream gradient g, and the gradients of x and of every
parameter; batch-norm layers run one training forward (their running statistics after it are
stored) and one eval forward. The tests build the same layers (constructor arguments mirrored in
tests/Audit/LayerAuditTests.cs), load the state dicts and compare."""
import torch
from torch import nn
from common import save, seeded

seeded(11)
D = torch.float64
LAYERS = {
    "linear": (nn.Linear(5, 3), (1, 5)),
    "linear3d": (nn.Linear(4, 3, bias=False), (2, 3, 4)),
    "conv2d": (nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2), (1, 4, 7, 5)),
    "conv2d_dw": (nn.Conv2d(3, 3, (3, 2), padding=(1, 0), dilation=(2, 1), groups=3, bias=False), (2, 3, 5, 4)),
    "conv3d": (nn.Conv3d(2, 3, 2, stride=(1, 2, 1), padding=1), (1, 2, 3, 4, 3)),
    "convt2d": (nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2), (1, 4, 3, 5)),
    "convt3d": (nn.ConvTranspose3d(2, 3, 2, stride=2, bias=False), (1, 2, 2, 3, 2)),
    "convt2d_dw": (nn.ConvTranspose2d(3, 3, 3, stride=2, padding=1, output_padding=1, groups=3, dilation=2), (1, 3, 4, 3)),
    "convt3d_gd": (nn.ConvTranspose3d(4, 2, (2, 3, 2), stride=(1, 2, 1), padding=(0, 1, 1), output_padding=(0, 1, 0),
                                      groups=2, dilation=(2, 1, 1)), (1, 4, 3, 2, 3)),
    "bn1d": (nn.BatchNorm1d(3), (5, 3)),
    "bn1d_ncl": (nn.BatchNorm1d(2, momentum=0.3), (3, 2, 5)),
    "bn2d": (nn.BatchNorm2d(3), (2, 3, 3, 5)),
    "bn3d": (nn.BatchNorm3d(2, affine=False), (1, 2, 3, 2, 3)),
    "ln": (nn.LayerNorm([3, 5]), (2, 3, 5)),
    "gn": (nn.GroupNorm(3, 6), (1, 6, 5)),
    "in2d": (nn.InstanceNorm2d(3, affine=True), (2, 3, 5, 3)),
    "in3d": (nn.InstanceNorm3d(2), (1, 2, 3, 3, 2)),
    "seq": (nn.Sequential(nn.Linear(5, 7), nn.GELU(), nn.Linear(7, 3), nn.Tanh()), (1, 5)),
}
out = {}
for name, (layer, shape) in LAYERS.items():
    layer = layer.to(D)
    with torch.no_grad():  # non-trivial affine parameters
        for p in layer.parameters():
            p.uniform_(-1, 1)
    for k, v in layer.state_dict().items():
        out[f"{name}.state.{k}"] = v.clone() if v.dtype != torch.int64 else v
    x = torch.randn(*shape, dtype=D).requires_grad_(True)
    y = layer(x)
    g = torch.randn_like(y)
    y.backward(g)
    out.update({f"{name}.x": x.detach(), f"{name}.y": y.detach(), f"{name}.g": g, f"{name}.dx": x.grad})
    for k, p in layer.named_parameters():
        out[f"{name}.grad.{k}"] = p.grad
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        out[f"{name}.running_mean"] = layer.running_mean.clone()
        out[f"{name}.running_var"] = layer.running_var.clone()
        layer.eval()
        with torch.no_grad():
            out[f"{name}.eval_y"] = layer(x)
emb = nn.Embedding(7, 3).to(D)
idx = torch.tensor([[6, 0, 6], [2, 2, 5]])
y = emb(idx)
g = torch.randn_like(y)
y.backward(g)
out.update({"emb.state.weight": emb.weight.detach().clone(), "emb.index": idx.to(torch.int32), "emb.y": y.detach(),
            "emb.g": g, "emb.grad.weight": emb.weight.grad})
# MultiheadAttention (batch_first, 3 heads of 2): gradients of query, key, value and every
# parameter, with an additive attention mask; batch 1, 2 queries over 5 keys.
mha = nn.MultiheadAttention(6, 3, batch_first=True).to(D)
with torch.no_grad():
    for p in mha.parameters():
        p.uniform_(-0.6, 0.6)
q = torch.randn(1, 2, 6, dtype=D).requires_grad_(True)
k = torch.randn(1, 5, 6, dtype=D).requires_grad_(True)
v = torch.randn(1, 5, 6, dtype=D).requires_grad_(True)
mask = torch.randn(2, 5, dtype=D)
o, _ = mha(q, k, v, attn_mask=mask, need_weights=False)
g = torch.randn_like(o)
o.backward(g)
for key, val in mha.state_dict().items():
    out["mha.state." + key] = val.detach().clone()
out.update({"mha.q": q.detach(), "mha.k": k.detach(), "mha.v": v.detach(), "mha.mask": mask, "mha.y": o.detach(),
            "mha.g": g, "mha.dq": q.grad, "mha.dk": k.grad, "mha.dv": v.grad})
for key, p in mha.named_parameters():
    out["mha.grad." + key] = p.grad
save("layers", out)
