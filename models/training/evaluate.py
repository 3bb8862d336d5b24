"""Quick monitoring evaluator: class-aware NMS + AP@0.5 (all-point interpolated), pure torch."""

import numpy as np
import torch

from loss import box_iou_pairs


def nms(boxes, scores, iou_thr):
    """Greedy NMS; boxes [K,4] xyxy, scores [K]. Returns kept indices (sorted by score)."""
    order = scores.argsort(descending=True)
    boxes = boxes[order]
    if len(boxes) == 0:
        return order
    iou = box_iou_pairs(boxes.unsqueeze(1), boxes.unsqueeze(0))
    keep = torch.ones(len(boxes), dtype=torch.bool)
    for i in range(len(boxes)):
        if keep[i]:
            sup = iou[i] > iou_thr
            sup[: i + 1] = False
            keep &= ~sup
    return order[keep]


def postprocess(out, conf=0.001, iou=0.6, max_det=300, pre_nms=500):
    """out [B,4+nc,N] (cx,cy,w,h, sigmoid scores) -> list of [K,6] (x1,y1,x2,y2,score,cls). Class-aware NMS."""
    res = []
    nc = out.shape[1] - 4
    for o in out:
        o = o.t()
        xy, wh = o[:, :2], o[:, 2:4]
        boxes = torch.cat((xy - wh / 2, xy + wh / 2), 1)
        sc = o[:, 4:]
        idx, cl = (sc > conf).nonzero(as_tuple=True)
        s = sc[idx, cl]
        if len(s) > pre_nms:
            top = s.topk(pre_nms).indices
            idx, cl, s = idx[top], cl[top], s[top]
        b = boxes[idx]
        off = cl.float().unsqueeze(1) * 4096.0  # class-aware NMS via coordinate offset
        keep = nms(b + off, s, iou)[:max_det]
        res.append(torch.cat((b[keep], s[keep, None], cl[keep, None].float()), 1))
    return res


def ap_voc(tp, conf, n_gt):
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    o = np.argsort(-conf)
    tp = tp[o]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-9)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([1.0], prec, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


@torch.no_grad()
def evaluate(model, ds, nc, batch=32, iou_match=0.5, conf=0.001):
    """AP@0.5 per class on a CachedDataset. Returns (list of per-class AP, recall@conf0.25 per class)."""
    model.eval()
    stats = [[] for _ in range(nc)]  # (tp, conf)
    n_gt = [0] * nc
    rec25 = [[0, 0] for _ in range(nc)]
    for s in range(0, len(ds), batch):
        idx = list(range(s, min(s + batch, len(ds))))
        imgs, tg, mask = ds.batch(idx)
        out = model(imgs.contiguous(memory_format=torch.channels_last))
        if isinstance(out, tuple):
            out = out[0]
        dets = postprocess(out, conf=conf)
        for j, d in enumerate(dets):
            g = tg[j][mask[j]]
            for c in range(nc):
                gc = g[g[:, 0] == c, 1:5]
                dc = d[d[:, 5] == c]
                n_gt[c] += len(gc)
                tp = np.zeros(len(dc))
                if len(gc) and len(dc):
                    iou = box_iou_pairs(dc[:, None, :4], gc[None, :, :])  # [D,G] sorted by score
                    used = torch.zeros(len(gc), dtype=torch.bool)
                    for k in range(len(dc)):
                        v, m = (iou[k] * (~used)).max(0)
                        if v >= iou_match:
                            used[m] = True
                            tp[k] = 1
                if len(gc):
                    hi = dc[dc[:, 4] >= 0.25]
                    if len(hi):
                        iou2 = box_iou_pairs(hi[:, None, :4], gc[None, :, :])
                        rec25[c][0] += int((iou2.max(0).values >= iou_match).sum())
                    rec25[c][1] += len(gc)
                stats[c].append((tp, dc[:, 4].numpy()))
    aps = []
    for c in range(nc):
        tp = np.concatenate([t for t, _ in stats[c]]) if stats[c] else np.zeros(0)
        cf = np.concatenate([f for _, f in stats[c]]) if stats[c] else np.zeros(0)
        aps.append(ap_voc(tp, cf, n_gt[c]))
    recalls = [r[0] / r[1] if r[1] else float("nan") for r in rec25]
    return aps, recalls
