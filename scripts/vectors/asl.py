"""Reference values and gradients for the asymmetric loss (PAPERS.md section 2): a torch
re-statement of the reference formulas (written here from the paper's definitions), in float64,
differentiated by autograd. Multi-label: both focusing options (the weight detached or not),
the partial-label form (targets -1 with their own gamma / alpha), a weight mask with the mean.
Single-label: log-softmax, (1 - p)^g+ on the target, p^g- elsewhere, label smoothing, batch mean."""
import torch
from common import save, seeded

seeded(11)
out = {}

B, N = 5, 13
x0 = torch.randn(B, N, dtype=torch.float64) * 3
x0[0, 0], x0[1, 1], x0[2, 2], x0[3, 3] = 30.0, -30.0, 12.0, -12.0  # saturated entries
y_full = (torch.rand(B, N, dtype=torch.float64) < 0.35).to(torch.float64)
y_partial = y_full.clone()
y_partial[torch.rand(B, N) < 0.3] = -1.0
w_mask = torch.rand(B, N, dtype=torch.float64) * 2
w_mask[torch.rand(B, N) < 0.25] = 0.0
out["x"] = x0
out["y_full"] = y_full
out["y_partial"] = y_partial
out["w"] = w_mask


def asl(x, y, gp, gn, clip, eps, detach, ap=1.0, an=1.0, gu=None, au=1.0, w=None, mean=False):
    """loss = -sum of alpha * pt-focusing * log terms; un-annotated (-1) entries take the negative
    form with gu, au."""
    pos = (y == 1).to(x.dtype)
    neg = (y == 0).to(x.dtype)
    unk = (y == -1).to(x.dtype)
    p = torch.sigmoid(x)
    q = 1 - p
    if clip > 0:
        q = (q + clip).clamp(max=1)  # 1 - p_m
    lp = torch.log(p.clamp(min=eps))
    lq = torch.log(q.clamp(min=eps))
    gu = gn if gu is None else gu

    def weights():
        wp = (1 - p) ** gp
        wn = (1 - q) ** gn
        wu = (1 - q) ** gu
        return wp, wn, wu

    if detach:
        with torch.no_grad():
            wp, wn, wu = weights()
    else:
        wp, wn, wu = weights()
    e = -(ap * pos * wp * lp + an * neg * wn * lq + au * unk * wu * lq)
    if w is not None:
        e = e * w
    total = e.sum()
    if mean:
        count = (w != 0).sum() if w is not None else torch.tensor(e.numel())
        total = total / count.clamp(min=1)
    return total


CASES = {
    # name: (targets, kwargs)
    "recipe": ("y_full", dict(gp=0.0, gn=4.0, clip=0.05, eps=1e-8, detach=True)),
    "focusgrad": ("y_full", dict(gp=1.0, gn=3.0, clip=0.05, eps=1e-8, detach=False)),
    "focal": ("y_full", dict(gp=2.0, gn=2.0, clip=0.0, eps=1e-8, detach=False)),
    "bce": ("y_full", dict(gp=0.0, gn=0.0, clip=0.0, eps=1e-8, detach=True)),
    "partial": ("y_partial", dict(gp=0.0, gn=1.0, clip=0.0, eps=1e-8, detach=True, ap=1.5, an=0.7, gu=2.0, au=0.5)),
    "partialgrad": ("y_partial", dict(gp=1.0, gn=2.0, clip=0.1, eps=1e-8, detach=False, gu=4.0, au=0.3)),
    "weightedmean": ("y_partial", dict(gp=0.0, gn=4.0, clip=0.05, eps=1e-8, detach=True, w=w_mask, mean=True)),
}
for name, (ykey, kw) in CASES.items():
    x = x0.clone().requires_grad_(True)
    loss = asl(x, out[ykey], **kw)
    loss.backward()
    out[f"{name}.loss"] = loss.detach()
    out[f"{name}.grad"] = x.grad

# Single-label variant.
C = 7
xs0 = torch.randn(6, C, dtype=torch.float64) * 2
xs0[0, 3] = 15.0
ts = torch.tensor([3, 0, 6, 2, 2, 5], dtype=torch.int64)
out["sl.x"] = xs0
out["sl.t"] = ts.to(torch.int32)


def asl_single(x, t, gp, gn, eps):
    logp = torch.log_softmax(x, dim=-1)
    onehot = torch.zeros_like(x).scatter_(1, t.unsqueeze(1), 1.0)
    p = torch.exp(logp)
    base = onehot * (1 - p) + (1 - onehot) * p  # 1 - p on the target, p elsewhere
    w = base ** (gp * onehot + gn * (1 - onehot))
    target = onehot * (1 - eps) + eps / x.shape[1]
    return -(target * w * logp).sum(-1).mean()


for name, (gp, gn, eps) in {"sl1": (0.0, 4.0, 0.1), "sl2": (1.0, 2.0, 0.2), "sl0": (0.0, 0.0, 0.0)}.items():
    x = xs0.clone().requires_grad_(True)
    loss = asl_single(x, ts, gp, gn, eps)
    loss.backward()
    out[f"{name}.loss"] = loss.detach()
    out[f"{name}.grad"] = x.grad

save("asl", out, {"cases": list(CASES), "single": ["sl1", "sl2", "sl0"]})
