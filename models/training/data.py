"""YOLO-txt dataset loading (all images cached in RAM, letterboxed) and batch-level augmentation."""

import glob
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMG_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
PAD = 114


def letterbox_pil(im, S):
    """Resize keeping aspect so the long side is S, centre on an S x S canvas of 114. Returns array, r, (dx, dy)."""
    im = im.convert("RGB")
    w, h = im.size
    r = S / max(w, h)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR)
    canvas = np.full((S, S, 3), PAD, np.uint8)
    dx, dy = (S - nw) // 2, (S - nh) // 2
    canvas[dy:dy + nh, dx:dx + nw] = np.asarray(im)
    return canvas, r, (dx, dy), (w, h)


def _load_one(args):
    img_path, lbl_path, S = args
    with Image.open(img_path) as im:
        arr, r, (dx, dy), (w, h) = letterbox_pil(im, S)
    boxes = np.zeros((0, 5), np.float32)
    if os.path.exists(lbl_path):
        rows = []
        with open(lbl_path) as f:
            for line in f:
                p = line.split()
                if len(p) < 5:
                    continue
                c, cx, cy, bw, bh = int(float(p[0])), *map(float, p[1:5])
                x1 = (cx - bw / 2) * w * r + dx
                y1 = (cy - bh / 2) * h * r + dy
                x2 = (cx + bw / 2) * w * r + dx
                y2 = (cy + bh / 2) * h * r + dy
                rows.append((c, x1, y1, x2, y2))
        if rows:
            boxes = np.array(rows, np.float32)
            boxes[:, 1:] = boxes[:, 1:].clip(0, S)
            keep = ((boxes[:, 3] - boxes[:, 1]) >= 1) & ((boxes[:, 4] - boxes[:, 2]) >= 1)
            boxes = boxes[keep]
    return arr, boxes


class CachedDataset:
    """All images of a split, letterboxed to S, as one uint8 array [N,S,S,3]; labels as xyxy pixels."""

    def __init__(self, root, split, S, workers=2, max_images=0):
        img_dir = os.path.join(root, split, "images")
        lbl_dir = os.path.join(root, split, "labels")
        files = sorted(f for f in glob.glob(os.path.join(img_dir, "*")) if f.lower().endswith(IMG_EXTS))
        if max_images:
            files = files[:max_images]
        if not files:
            raise FileNotFoundError(f"no images in {img_dir}")
        jobs = [(f, os.path.join(lbl_dir, os.path.splitext(os.path.basename(f))[0] + ".txt"), S) for f in files]
        self.files = files
        self.S = S
        self.images = np.empty((len(files), S, S, 3), np.uint8)
        self.labels = []
        with ThreadPoolExecutor(max(1, workers)) as ex:
            for i, (arr, boxes) in enumerate(ex.map(_load_one, jobs, chunksize=16)):
                self.images[i] = arr
                self.labels.append(boxes)

    def subset(self, n):
        """Evenly strided subset of about n images (shares memory)."""
        sub = object.__new__(CachedDataset)
        step = max(1, len(self) // n)
        keep = list(range(0, len(self), step))[:n]
        sub.files = [self.files[i] for i in keep]
        sub.S = self.S
        sub.images = self.images[keep]
        sub.labels = [self.labels[i] for i in keep]
        return sub

    def __len__(self):
        return len(self.files)

    def n_boxes(self):
        return int(sum(len(b) for b in self.labels))

    def batch(self, idx):
        """Returns float images [B,3,S,S] (0-1) and padded targets [B,M,5] (cls,x1,y1,x2,y2) + mask [B,M]."""
        imgs = torch.from_numpy(self.images[idx]).permute(0, 3, 1, 2).float().div_(255.0)
        M = max(1, max(len(self.labels[i]) for i in idx))
        tg = torch.zeros(len(idx), M, 5)
        mask = torch.zeros(len(idx), M, dtype=torch.bool)
        for j, i in enumerate(idx):
            b = self.labels[i]
            if len(b):
                tg[j, :len(b)] = torch.from_numpy(b)
                mask[j, :len(b)] = True
        return imgs, tg, mask


def augment(imgs, tg, mask, gen, scale=0.3, translate=0.1, flip=0.5, hsv=True, min_vis=0.3):
    """Batch augmentation on CPU tensors. imgs [B,3,S,S] 0-1, tg [B,M,5] xyxy px, mask [B,M].

    Random zoom/translate (affine, pad 114), horizontal flip, brightness/contrast/saturation/white-balance jitter.
    Boxes cut by the frame are clipped; dropped when less than min_vis of their area stays visible.
    """
    B, _, S, _ = imgs.shape
    pad = PAD / 255.0
    r = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    s = 1.0 + (r(B) * 2 - 1) * scale  # zoom factor (output = s * input about centre)
    tx = (r(B) * 2 - 1) * translate * S
    ty = (r(B) * 2 - 1) * translate * S
    fl = r(B) < flip
    # affine_grid maps output coords -> input coords (normalised -1..1)
    theta = torch.zeros(B, 2, 3)
    sx = torch.where(fl, -1.0 / s, 1.0 / s)
    theta[:, 0, 0] = sx
    theta[:, 1, 1] = 1.0 / s
    theta[:, 0, 2] = -tx / (S / 2) * sx
    theta[:, 1, 2] = -ty / (S / 2) / s
    grid = F.affine_grid(theta, imgs.shape, align_corners=False)
    imgs = F.grid_sample(imgs - pad, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + pad
    # boxes: x' = s*(x - c) (+flip) + c + t
    c = S / 2
    x1, y1, x2, y2 = tg[..., 1], tg[..., 2], tg[..., 3], tg[..., 4]
    sv, txv, tyv, flv = s[:, None], tx[:, None], ty[:, None], fl[:, None]
    nx1 = (x1 - c) * sv
    nx2 = (x2 - c) * sv
    nx1, nx2 = torch.where(flv, -nx2, nx1), torch.where(flv, -nx1, nx2)
    nx1, nx2 = nx1 + c + txv, nx2 + c + txv
    ny1 = (y1 - c) * sv + c + tyv
    ny2 = (y2 - c) * sv + c + tyv
    area = (nx2 - nx1) * (ny2 - ny1)
    cx1, cy1, cx2, cy2 = nx1.clamp(0, S), ny1.clamp(0, S), nx2.clamp(0, S), ny2.clamp(0, S)
    carea = (cx2 - cx1).clamp(min=0) * (cy2 - cy1).clamp(min=0)
    ok = mask & (carea >= min_vis * area) & ((cx2 - cx1) >= 2) & ((cy2 - cy1) >= 2)
    tg = torch.stack((tg[..., 0], cx1, cy1, cx2, cy2), -1)
    if hsv:
        bright = 1.0 + (r(B, 1, 1, 1) * 2 - 1) * 0.3
        contrast = 1.0 + (r(B, 1, 1, 1) * 2 - 1) * 0.25
        sat = 1.0 + (r(B, 1, 1, 1) * 2 - 1) * 0.4
        wb = 1.0 + (r(B, 3, 1, 1) * 2 - 1) * 0.08
        gray = imgs.mean(1, keepdim=True)
        imgs = gray + (imgs - gray) * sat
        m = imgs.mean((1, 2, 3), keepdim=True)
        imgs = (imgs - m) * contrast + m
        imgs = imgs * bright * wb
        imgs = imgs.clamp_(0, 1)
    return imgs, tg, ok
