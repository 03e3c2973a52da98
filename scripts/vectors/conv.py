"""Reference vectors for the Conv family: conv2d / conv3d / transposed, forward and backward.

Each case stores x, w, (b), the output y, an output gradient g and the gradients dx, dw, (db);
its arguments go to the metadata as JSON under the case name."""
import torch
import torch.nn.functional as F
from common import save, seeded

seeded(3)
D = torch.float64

# name: (op, x shape, w shape, bias, stride, padding, dilation, groups, output_padding)
CASES = {
    "c2_basic": ("conv2d", [2, 3, 7, 6], [4, 3, 3, 3], True, [1, 1], [1, 1], [1, 1], 1, None),
    "c2_stride2": ("conv2d", [1, 4, 9, 8], [6, 4, 3, 2], False, [2, 2], [0, 0], [1, 1], 1, None),
    "c2_axes": ("conv2d", [2, 3, 9, 8], [5, 3, 3, 2], True, [2, 1], [1, 0], [1, 2], 1, None),
    "c2_dil2": ("conv2d", [2, 3, 9, 9], [5, 3, 3, 3], False, [1, 1], [2, 2], [2, 2], 1, None),
    "c2_groups2": ("conv2d", [2, 4, 6, 5], [6, 2, 3, 3], True, [2, 2], [1, 1], [1, 1], 2, None),
    "c2_depthwise": ("conv2d", [1, 6, 7, 7], [6, 1, 3, 3], True, [1, 1], [1, 1], [1, 1], 6, None),
    "c2_1x1": ("conv2d", [3, 5, 4, 6], [7, 5, 1, 1], True, [1, 1], [0, 0], [1, 1], 1, None),
    "c2_1x1_groups": ("conv2d", [2, 4, 3, 3], [6, 2, 1, 1], False, [1, 1], [0, 0], [1, 1], 2, None),
    "c2_1x1_stride2": ("conv2d", [2, 3, 5, 5], [4, 3, 1, 1], True, [2, 2], [0, 0], [1, 1], 1, None),
    "c2_wide": ("conv2d", [2, 8, 6, 5], [3, 8, 3, 3], True, [1, 1], [1, 1], [1, 1], 1, None),
    "c2_wide_groups": ("conv2d", [1, 16, 5, 6], [4, 8, 3, 3], False, [1, 1], [2, 1], [2, 1], 2, None),
    "c3_wide": ("conv3d", [1, 8, 4, 5, 3], [4, 8, 3, 3, 2], True, [1, 1, 1], [1, 1, 0], [1, 1, 1], 1, None),
    "c3_basic": ("conv3d", [1, 2, 5, 6, 7], [3, 2, 3, 3, 3], True, [1, 1, 1], [1, 1, 1], [1, 1, 1], 1, None),
    "c3_stride2": ("conv3d", [2, 3, 7, 6, 5], [4, 3, 3, 2, 3], False, [2, 2, 2], [1, 1, 1], [1, 1, 1], 1, None),
    "c3_dil_groups": ("conv3d", [1, 4, 7, 7, 6], [4, 2, 3, 3, 2], True, [1, 2, 1], [1, 2, 0], [2, 2, 1], 2, None),
    "c3_depthwise": ("conv3d", [1, 3, 5, 5, 5], [3, 1, 3, 3, 3], False, [1, 1, 1], [1, 1, 1], [1, 1, 1], 3, None),
    "c3_1x1": ("conv3d", [2, 3, 3, 4, 5], [2, 3, 1, 1, 1], True, [1, 1, 1], [0, 0, 0], [1, 1, 1], 1, None),
    "t2_basic": ("conv_transpose2d", [2, 4, 5, 4], [4, 3, 3, 3], True, [2, 2], [1, 1], [1, 1], 1, [1, 1]),
    "t2_axes_groups": ("conv_transpose2d", [1, 4, 4, 5], [4, 3, 3, 2], False, [2, 1], [0, 1], [1, 2], 2, [1, 0]),
    "t2_dil_outpad": ("conv_transpose2d", [1, 2, 4, 4], [2, 2, 3, 3], True, [1, 1], [1, 1], [2, 2], 1, [1, 1]),
    "t3_basic": ("conv_transpose3d", [1, 3, 3, 4, 3], [3, 2, 3, 3, 3], True, [2, 2, 2], [1, 1, 1], [1, 1, 1], 1, [1, 1, 1]),
    "t3_s1": ("conv_transpose3d", [2, 2, 4, 3, 4], [2, 4, 2, 2, 2], False, [1, 1, 1], [0, 0, 0], [1, 1, 1], 1, [0, 0, 0]),
}

out, meta = {}, {}
for name, (op, xs, ws, has_b, stride, padding, dilation, groups, opad) in CASES.items():
    # Inputs are float32 values (stored as float32 to keep the file small) computed on in float64.
    x = torch.randn(*xs).to(D).requires_grad_(True)
    w = torch.randn(*ws).to(D).requires_grad_(True)
    cout = ws[0] if op.startswith("conv2d") or op.startswith("conv3d") else ws[1] * groups
    b = torch.randn(cout).to(D).requires_grad_(True) if has_b else None
    fn = getattr(F, op)
    if opad is None:
        y = fn(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    else:
        y = fn(x, w, b, stride=stride, padding=padding, output_padding=opad, dilation=dilation, groups=groups)
    g = torch.randn(y.shape).to(D)
    y.backward(g)
    f32 = torch.float32
    out.update({f"{name}.x": x.to(f32), f"{name}.w": w.to(f32), f"{name}.y": y, f"{name}.g": g.to(f32),
                f"{name}.dx": x.grad, f"{name}.dw": w.grad})
    if has_b:
        out[f"{name}.b"] = b.to(f32)
        out[f"{name}.db"] = b.grad
    meta[name] = {"op": op, "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
                  "output_padding": opad or [0] * len(stride)}
save("conv", out, {"cases": meta})
