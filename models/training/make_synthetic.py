"""Tiny synthetic stand-in dataset (YOLO txt) for smoke-testing the training / export loop.

People = upright body + head blobs (some small, some cut by the frame, some overlapping); carts = wide boxes
with a wire grid; distractors = flat grey "mannequin" bars without a head and poster rectangles (unlabelled).
Usage: /usr/bin/python3 models/training/make_synthetic.py --out /tmp/synth --train 400 --val 100
"""

import argparse
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def make_image(rng):
    W, H = (416, 312) if rng.random() < 0.5 else (416, 234)
    base = rng.uniform(40, 200, 3)
    grad = np.linspace(0.7, 1.2, H)[:, None, None] * base[None, None, :]
    img = np.clip(grad + rng.normal(0, rng.uniform(3, 15), (H, W, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(np.repeat(img, 1, 0)[:, :W] if img.shape[1] >= W else np.resize(img, (H, W, 3)))
    dr = ImageDraw.Draw(im)
    labels = []
    # distractors (unlabelled)
    for _ in range(rng.integers(0, 3)):
        x, y, w, h = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(10, 50), rng.uniform(20, 80)
        dr.rectangle([x, y, x + w, y + h], fill=tuple(int(v) for v in rng.uniform(0, 255, 3)))
    for _ in range(rng.integers(0, 6)):  # pedestal posters / mannequin bars: grey, no head
        x, y, h = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(20, 80)
        dr.rectangle([x, y, x + h * 0.25, y + h], fill=(150, 150, 150))
    # carts
    for _ in range(rng.integers(0, 3)):
        w = rng.uniform(25, 70)
        h = w * rng.uniform(0.6, 0.9)
        x, y = rng.uniform(-w * 0.3, W - w * 0.7), rng.uniform(-h * 0.3, H - h * 0.7)
        col = tuple(int(v) for v in rng.uniform(150, 230, 3))
        dr.rectangle([x, y, x + w, y + h], outline=col, width=2)
        for gx in np.arange(x, x + w, 6):
            dr.line([gx, y, gx, y + h], fill=col, width=1)
        labels.append((1, x, y, x + w, y + h))
    # people
    n = rng.integers(1, 12)
    for _ in range(n):
        h = float(np.exp(rng.uniform(np.log(16), np.log(140))))
        w = h * rng.uniform(0.3, 0.45)
        x, y = rng.uniform(-w * 0.4, W - w * 0.6), rng.uniform(-h * 0.3, H - h * 0.7)
        body = tuple(int(v) for v in rng.uniform(0, 255, 3))
        skin = tuple(int(v) for v in rng.uniform([150, 100, 70], [255, 200, 170]))
        hr = w * 0.32
        dr.ellipse([x + w / 2 - hr, y, x + w / 2 + hr, y + 2 * hr], fill=skin)
        dr.rounded_rectangle([x, y + 2 * hr, x + w, y + h * 0.65], radius=max(1, w / 4), fill=body)
        leg = tuple(int(v * 0.6) for v in body)
        dr.rectangle([x + w * 0.15, y + h * 0.65, x + w * 0.45, y + h], fill=leg)
        dr.rectangle([x + w * 0.55, y + h * 0.65, x + w * 0.85, y + h], fill=leg)
        labels.append((0, x, y, x + w, y + h))
    if rng.random() < 0.4:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    out = []
    for c, x1, y1, x2, y2 in labels:
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(W, x2), min(H, y2)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        out.append(f"{c} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}")
    return im, out, int(rng.integers(40, 95))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/synth")
    ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--val", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    for split, n in (("train", a.train), ("val", a.val)):
        os.makedirs(os.path.join(a.out, split, "images"), exist_ok=True)
        os.makedirs(os.path.join(a.out, split, "labels"), exist_ok=True)
        for i in range(n):
            im, lines, q = make_image(rng)
            stem = f"{split}_{i:05d}"
            im.save(os.path.join(a.out, split, "images", stem + ".jpg"), quality=q)
            with open(os.path.join(a.out, split, "labels", stem + ".txt"), "w") as f:
                f.write("\n".join(lines) + ("\n" if lines else ""))
    print(f"wrote {a.train} train / {a.val} val images to {a.out}")


if __name__ == "__main__":
    main()
