"""Turn an exported TinyDet ONNX (BatchNorm folded) back into a train.py checkpoint, for fine-tuning.

The export folds each BatchNorm into its conv (weight W, bias b). To train again the BatchNorm must come
back, and it must not change what the network computes: this script runs the folded network on real
images, records each conv's per-channel mean m and variance v of W*x, and sets running_mean = m,
running_var = v, gamma = sqrt(v + eps), beta = b + m. In eval mode the restored block computes exactly
W*x + b; in training mode its batch statistics are close to m and v, so fine-tuning starts from the
released model's behaviour, not from a disturbed one.

Usage: /usr/bin/python3 models/training/from_onnx.py --onnx models/person-detector/person-detector.onnx \
          --data models/training/data --imgsz 384 --out runs/from-onnx.pt
"""

import argparse
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import CachedDataset  # noqa: E402
from export import fuse_conv_bn  # noqa: E402
from model import Conv, TinyDet  # noqa: E402
from train import NAMES  # noqa: E402

# The shape of the released TinyDet (train.py's defaults); the ONNX initializers must fit it.
MODEL_CFG = {"nc": len(NAMES), "width": (16, 32, 64, 96, 112), "head_hidden": 32}


def load_onnx_weights(path):
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    return {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}


def restore(onnx_path, images, model_cfg=MODEL_CFG):
    """A TinyDet with BatchNorm whose eval-mode output equals the ONNX graph's. `images`: [N,3,S,S] 0-1."""
    w = load_onnx_weights(onnx_path)
    model = TinyDet(**model_cfg).eval()
    fused = fuse_conv_bn(copy.deepcopy(model)).eval()
    sd = fused.state_dict()
    missing = [k for k in sd if k not in w]
    if missing:
        raise SystemExit(f"{onnx_path}: not a TinyDet of this shape (no initializer for {missing[:3]} ...)")
    fused.load_state_dict({k: w[k].reshape(sd[k].shape) for k in sd})

    # Per-channel statistics of W*x (the conv's output without its folded bias) on real images.
    stats, hooks = {}, []
    for name, mod in fused.named_modules():
        if isinstance(mod, Conv):
            def hook(m, inp, out, name=name):
                y = out - m.bias.view(1, -1, 1, 1)
                s = stats.setdefault(name, [0.0, 0.0, 0])
                s[0] = s[0] + y.sum((0, 2, 3)).double()
                s[1] = s[1] + (y.double() ** 2).sum((0, 2, 3))
                s[2] += y.shape[0] * y.shape[2] * y.shape[3]
            hooks.append(mod.conv.register_forward_hook(hook))
    with torch.no_grad():
        for i in range(0, len(images), 16):
            fused(images[i:i + 16])
    for h in hooks:
        h.remove()

    mods = dict(model.named_modules())
    blocks = {name for name, mod in fused.named_modules() if isinstance(mod, Conv)}
    for name, mod in fused.named_modules():
        if name in blocks:
            tgt = mods[name]
            s0, s1, n = stats[name]
            mean = (s0 / n).float()
            var = (s1 / n - (s0 / n) ** 2).clamp_min(1e-6).float()
            eps = tgt.bn.eps
            tgt.conv.weight.data.copy_(mod.conv.weight.data)
            tgt.bn.running_mean.copy_(mean)
            tgt.bn.running_var.copy_(var)
            tgt.bn.weight.data.copy_((var + eps).sqrt())
            tgt.bn.bias.data.copy_(mod.conv.bias.data + mean)
        elif isinstance(mod, torch.nn.Conv2d) and name.rpartition(".")[0] not in blocks:
            # A plain conv (the heads' last 1x1): no BatchNorm, copied as it is.
            mods[name].weight.data.copy_(mod.weight.data)
            mods[name].bias.data.copy_(mod.bias.data)

    # The restored network must compute what the ONNX graph computes.
    with torch.no_grad():
        a = fused(images[:8])[0]
        b = model(images[:8])[0]
    err = (a - b).abs().max().item()
    if err > 1e-3:
        raise SystemExit(f"restored model differs from the ONNX weights by {err:.2e}")
    return model, err


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", default="models/person-detector/person-detector.onnx")
    ap.add_argument("--data", default="models/training/data", help="dataset root; its train split's images calibrate")
    ap.add_argument("--imgsz", type=int, default=384)
    ap.add_argument("--images", type=int, default=256, help="images used to measure the BatchNorm statistics")
    ap.add_argument("--out", required=True, help="checkpoint to write (train.py --init reads it)")
    a = ap.parse_args()
    torch.manual_seed(0)
    ds = CachedDataset(a.data, "train", a.imgsz, max_images=a.images)
    idx = list(range(len(ds)))
    imgs, _, _ = ds.batch(idx)
    model, err = restore(a.onnx, imgs)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({"model": model.state_dict(), "ema": None, "epoch": 0, "imgsz": a.imgsz, "names": NAMES,
                "model_cfg": MODEL_CFG,
                "fitness": None, "source": os.path.basename(a.onnx)}, a.out)
    print(f"wrote {a.out} from {a.onnx} ({len(idx)} calibration images; max |ONNX - restored| {err:.2e})")


if __name__ == "__main__":
    main()
