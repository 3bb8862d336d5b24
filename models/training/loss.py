"""Task-aligned assignment (YOLOv8 TAL) + IoU-aware BCE classification + CIoU box loss."""

import math

import torch
import torch.nn.functional as F


def box_iou_pairs(a, b, eps=1e-7):
    """IoU of broadcastable xyxy boxes a[..., 4], b[..., 4]."""
    iw = (torch.min(a[..., 2], b[..., 2]) - torch.max(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.min(a[..., 3], b[..., 3]) - torch.max(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    aa = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    ab = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (aa + ab - inter + eps)


def ciou(a, b, eps=1e-7):
    """Complete IoU of paired xyxy boxes [..., 4]."""
    iou = box_iou_pairs(a, b, eps)
    cw = torch.max(a[..., 2], b[..., 2]) - torch.min(a[..., 0], b[..., 0])
    ch = torch.max(a[..., 3], b[..., 3]) - torch.min(a[..., 1], b[..., 1])
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) ** 2 + (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) ** 2) / 4
    w1, h1 = a[..., 2] - a[..., 0], (a[..., 3] - a[..., 1]).clamp(min=eps)
    w2, h2 = b[..., 2] - b[..., 0], (b[..., 3] - b[..., 1]).clamp(min=eps)
    v = (4 / math.pi ** 2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


@torch.no_grad()
def tal_assign(pd_scores, pd_boxes, anchors, strides, gt_labels, gt_boxes, mask_gt, topk=10, alpha=0.5, beta=6.0,
               min_radius=0.5, eps=1e-9):
    """pd_scores [B,N,C] (sigmoid), pd_boxes [B,N,4] xyxy, anchors [N,2], strides [N,1],
    gt_labels [B,M], gt_boxes [B,M,4], mask_gt [B,M] bool.
    Candidate anchors: centre inside the gt box, whose half-extent is enlarged to at least min_radius*stride
    (so tiny/thin people always get a stride-8 candidate).
    Returns target_labels [B,N], target_boxes [B,N,4], target_scores [B,N,C], fg_mask [B,N] bool.
    """
    B, N, C = pd_scores.shape
    M = gt_boxes.shape[1]
    dev = pd_scores.device
    if M == 0 or not mask_gt.any():
        return (torch.zeros(B, N, dtype=torch.long, device=dev), torch.zeros(B, N, 4, device=dev),
                torch.zeros(B, N, C, device=dev), torch.zeros(B, N, dtype=torch.bool, device=dev))
    # candidates [B,M,N]
    gc = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2  # [B,M,2]
    gh = (gt_boxes[..., 2:] - gt_boxes[..., :2]) / 2  # half extents
    r = (strides[:, 0] * min_radius).view(1, 1, N, 1)
    half = torch.max(gh.unsqueeze(2), r)  # [B,M,N,2]
    d = (anchors.view(1, 1, N, 2) - gc.unsqueeze(2)).abs()
    in_gt = (d < half).all(-1) & mask_gt.unsqueeze(-1)
    # alignment metric
    overlaps = box_iou_pairs(gt_boxes.unsqueeze(2), pd_boxes.unsqueeze(1)).clamp(min=0)  # [B,M,N]
    lbl = gt_labels.long().clamp(0, C - 1)
    sc = pd_scores.permute(0, 2, 1).gather(1, lbl.unsqueeze(-1).expand(B, M, N))  # [B,M,N]
    overlaps = overlaps * in_gt
    align = sc.pow(alpha) * overlaps.pow(beta) * in_gt
    # top-k per gt (tie-break on in_gt so candidates win even when metric is 0)
    k = min(topk, N)
    key = align + in_gt.float() * 1e-6 + overlaps * 1e-9
    topk_idx = key.topk(k, dim=-1).indices  # [B,M,k]
    mask_topk = torch.zeros_like(in_gt).scatter_(-1, topk_idx, True)
    mask_pos = mask_topk & in_gt  # [B,M,N]
    # resolve anchors assigned to several gts: keep the highest IoU one
    fg_count = mask_pos.sum(1)  # [B,N]
    if (fg_count > 1).any():
        multi = (fg_count > 1).unsqueeze(1).expand(-1, M, -1)
        best = overlaps.argmax(1)  # [B,N]
        is_best = F.one_hot(best, M).permute(0, 2, 1).bool()
        mask_pos = torch.where(multi, is_best & mask_pos.any(1, keepdim=True) & in_gt, mask_pos)
    fg = mask_pos.any(1)  # [B,N]
    gt_idx = mask_pos.float().argmax(1)  # [B,N]
    bidx = torch.arange(B, device=dev).unsqueeze(-1)
    t_labels = lbl[bidx, gt_idx]  # [B,N]
    t_boxes = gt_boxes[bidx, gt_idx]  # [B,N,4]
    t_scores = F.one_hot(t_labels, C).float() * fg.unsqueeze(-1)
    # normalise: per gt, scale so the best anchor's target = its max IoU
    align = align * mask_pos
    pos_align = align.amax(-1, keepdim=True)  # [B,M,1]
    pos_ov = (overlaps * mask_pos).amax(-1, keepdim=True)
    norm = (align * pos_ov / (pos_align + eps)).amax(1)  # [B,N]
    t_scores = t_scores * norm.unsqueeze(-1)
    return t_labels, t_boxes, t_scores, fg


class DetLoss:
    def __init__(self, nc, box_gain=7.5, cls_gain=0.5, topk=10):
        self.nc, self.box_gain, self.cls_gain, self.topk = nc, box_gain, cls_gain, topk

    def __call__(self, preds, tg, mask):
        boxes, cls, anchors, strides = preds  # [B,4,N] xyxy px, [B,nc,N] logits
        boxes = boxes.permute(0, 2, 1)
        cls = cls.permute(0, 2, 1)
        _, t_boxes, t_scores, fg = tal_assign(cls.detach().sigmoid(), boxes.detach(), anchors, strides,
                                              tg[..., 0], tg[..., 1:5], mask, topk=self.topk)
        ts_sum = max(t_scores.sum().item(), 1.0)
        l_cls = F.binary_cross_entropy_with_logits(cls, t_scores, reduction="sum") / ts_sum
        if fg.any():
            w = t_scores.sum(-1)[fg]
            l_box = ((1.0 - ciou(boxes[fg], t_boxes[fg])) * w).sum() / ts_sum
        else:
            l_box = boxes.sum() * 0.0
        loss = self.box_gain * l_box + self.cls_gain * l_cls
        return loss, torch.stack((l_box.detach(), l_cls.detach()))
