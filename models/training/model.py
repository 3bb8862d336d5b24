"""Tiny anchor-free YOLOv8-style detector (person / cart) for CPU edge inference.

Output layout (exported graph, eval mode): [B, 4 + nc, N] with rows cx, cy, w, h in input pixels,
then per-class sigmoid scores. Anchors: stride 8 row-major, then 16, then 32 (Ultralytics order).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv(nn.Module):
    """Conv2d + BatchNorm + SiLU."""

    def __init__(self, c1, c2, k=1, s=1, g=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut=True):
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP bottleneck with 2 convs (YOLOv8 C2f), n bottlenecks on half the channels."""

    def __init__(self, c1, c2, n=1, shortcut=True):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


def make_anchors(sizes, strides, dtype=torch.float32, device="cpu"):
    """Anchor centres (in input pixels) and per-anchor strides. Order: level by level, row-major."""
    pts, strd = [], []
    for (h, w), s in zip(sizes, strides):
        sy = (torch.arange(h, dtype=dtype, device=device) + 0.5) * s
        sx = (torch.arange(w, dtype=dtype, device=device) + 0.5) * s
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        pts.append(torch.stack((xx, yy), -1).view(-1, 2))
        strd.append(torch.full((h * w, 1), float(s), dtype=dtype, device=device))
    return torch.cat(pts), torch.cat(strd)


class Detect(nn.Module):
    """Decoupled head. Box branch predicts ltrb distances (softplus * stride); cls branch nc logits."""

    def __init__(self, nc, chs, strides=(8, 16, 32), hidden=32):
        super().__init__()
        self.nc = nc
        self.strides = strides
        self.box = nn.ModuleList(nn.Sequential(Conv(c, hidden, 3), Conv(hidden, hidden, 3), nn.Conv2d(hidden, 4, 1)) for c in chs)
        self.cls = nn.ModuleList(nn.Sequential(Conv(c, hidden, 3), Conv(hidden, hidden, 3), nn.Conv2d(hidden, nc, 1)) for c in chs)
        self.export_mode = False
        self._anchor_cache = None

    def init_bias(self, imgsz=320):
        for b, c, s in zip(self.box, self.cls, self.strides):
            nn.init.constant_(b[-1].bias, 0.5)  # softplus(0.5)~0.97 stride units
            nn.init.constant_(c[-1].bias, math.log(0.01 / 0.99))

    def forward(self, feats):
        bs = feats[0].shape[0]
        sizes = [f.shape[2:] for f in feats]
        box = torch.cat([self.box[i](f).flatten(2) for i, f in enumerate(feats)], 2)  # [B,4,N]
        cls = torch.cat([self.cls[i](f).flatten(2) for i, f in enumerate(feats)], 2)  # [B,nc,N]
        key = tuple((int(h), int(w)) for h, w in sizes)
        if self.export_mode:
            anchors, strides = make_anchors(key, self.strides, box.dtype, box.device)
        else:
            if self._anchor_cache is None or self._anchor_cache[0] != key:
                self._anchor_cache = (key, *make_anchors(key, self.strides, box.dtype, box.device))
            anchors, strides = self._anchor_cache[1], self._anchor_cache[2]
        anchors_t = anchors.t().unsqueeze(0)  # [1,2,N]
        strides_t = strides.t().unsqueeze(0)  # [1,1,N]
        ltrb = F.softplus(box) * strides_t  # [B,4,N] distances in pixels
        lt, rb = ltrb[:, :2], ltrb[:, 2:]
        x1y1 = anchors_t - lt
        x2y2 = anchors_t + rb
        cxcy = (x1y1 + x2y2) * 0.5
        wh = x2y2 - x1y1
        if self.export_mode or not self.training:
            out = torch.cat((cxcy, wh, cls.sigmoid()), 1)  # [B,4+nc,N]
            if self.export_mode:
                return out
            return out, (torch.cat((x1y1, x2y2), 1), cls, anchors, strides)
        return torch.cat((x1y1, x2y2), 1), cls, anchors, strides


class TinyDet(nn.Module):
    def __init__(self, nc=2, width=(16, 32, 64, 96, 112), depth=(1, 1, 1, 1), head_hidden=32):
        super().__init__()
        c0, c1, c2, c3, c4 = width
        self.nc = nc
        self.stem = Conv(3, c0, 3, 2)  # /2
        self.s1 = nn.Sequential(Conv(c0, c1, 3, 2), C2f(c1, c1, depth[0]))  # /4
        self.s2 = nn.Sequential(Conv(c1, c2, 3, 2), C2f(c2, c2, depth[1]))  # /8  P3
        self.s3 = nn.Sequential(Conv(c2, c3, 3, 2), C2f(c3, c3, depth[2]))  # /16 P4
        self.s4 = nn.Sequential(Conv(c3, c4, 3, 2), C2f(c4, c4, depth[3]), SPPF(c4, c4))  # /32 P5
        # PAN neck
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.n4 = C2f(c4 + c3, c3, 1, shortcut=False)
        self.n3 = C2f(c3 + c2, c2, 1, shortcut=False)
        self.d3 = Conv(c2, c2, 3, 2)
        self.m4 = C2f(c2 + c3, c3, 1, shortcut=False)
        self.d4 = Conv(c3, c3, 3, 2)
        self.m5 = C2f(c3 + c4, c4, 1, shortcut=False)
        self.detect = Detect(nc, (c2, c3, c4), hidden=head_hidden)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5))
        self.detect.init_bias()

    def forward(self, x):
        x = self.s1(self.stem(x))
        p3 = self.s2(x)
        p4 = self.s3(p3)
        p5 = self.s4(p4)
        t4 = self.n4(torch.cat((self.up(p5), p4), 1))
        o3 = self.n3(torch.cat((self.up(t4), p3), 1))
        o4 = self.m4(torch.cat((self.d3(o3), t4), 1))
        o5 = self.m5(torch.cat((self.d4(o4), p5), 1))
        return self.detect([o3, o4, o5])


def count_flops(model, imgsz=320):
    """Multiply-accumulates of conv layers (GMACs) and GFLOPs (=2*MACs, Ultralytics convention)."""
    macs = [0]

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        macs[0] += out.numel() * (m.in_channels // m.groups) * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, imgsz, imgsz))
    model.train(was)
    for h in hs:
        h.remove()
    return macs[0] / 1e9 * 2


if __name__ == "__main__":
    m = TinyDet()
    print("params", sum(p.numel() for p in m.parameters()), "GFLOPs", count_flops(m))
