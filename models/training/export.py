"""Export a TinyDet checkpoint to ONNX (YOLOv8 output layout, decode + sigmoid inside the graph).

Usage: /usr/bin/python3 models/training/export.py --weights runs/exp/best.pt --out person-detector.onnx
"""

import argparse
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import TinyDet  # noqa: E402


def fuse_conv_bn(model):
    """Fold BatchNorm into the preceding conv (smaller, faster graph)."""
    from model import Conv

    for m in model.modules():
        if isinstance(m, Conv) and isinstance(m.bn, torch.nn.BatchNorm2d):
            conv, bn = m.conv, m.bn
            fused = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                    conv.padding, groups=conv.groups, bias=True)
            w = conv.weight
            std = (bn.running_var + bn.eps).sqrt()
            fused.weight.data = w.data * (bn.weight.data / std).view(-1, 1, 1, 1)
            b = conv.bias.data if conv.bias is not None else torch.zeros_like(bn.running_mean)
            fused.bias.data = (b - bn.running_mean) * bn.weight.data / std + bn.bias.data
            m.conv = fused
            m.bn = torch.nn.Identity()
    return model


def export_onnx(model, path, imgsz=320, names=("person", "cart"), opset=13):
    model = fuse_conv_bn(copy.deepcopy(model).float().eval())
    model.detect.export_mode = True
    x = torch.zeros(1, 3, imgsz, imgsz)
    with torch.no_grad():
        y = model(x)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the static anchor grid are expected
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["images"], output_names=["output0"],
                          do_constant_folding=True, dynamic_axes=None)
    import onnx

    m = onnx.load(path)
    onnx.checker.check_model(m)
    meta = {
        "names": "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(names)) + "}",
        "imgsz": f"[{imgsz}, {imgsz}]",
        "stride": "32",
        "task": "detect",
        "batch": "1",
        "description": "storevision TinyDet person/cart detector (YOLOv8 output layout)",
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, path)
    return tuple(y.shape), os.path.getsize(path)


def load_checkpoint(weights):
    ck = torch.load(weights, map_location="cpu")
    cfg = ck.get("model_cfg", {})
    model = TinyDet(**cfg)
    model.load_state_dict(ck["ema"] if ck.get("ema") is not None else ck["model"])
    return model, ck


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", help="checkpoint .pt written by train.py (random init if omitted)")
    ap.add_argument("--out", default="models/person-detector/person-detector.onnx")
    ap.add_argument("--imgsz", type=int, default=None, help="defaults to the checkpoint's imgsz, else 320")
    ap.add_argument("--opset", type=int, default=13)
    a = ap.parse_args()
    if a.weights:
        model, ck = load_checkpoint(a.weights)
        imgsz = a.imgsz or ck.get("imgsz", 320)
        names = ck.get("names", ("person", "cart"))
    else:
        model, imgsz, names = TinyDet(), a.imgsz or 320, ("person", "cart")
    shape, size = export_onnx(model, a.out, imgsz, names, a.opset)
    print(f"exported {a.out}: output0 {list(shape)}, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
