"""Train the storevision person/cart detector (TinyDet) from scratch on CPU and export it to ONNX.

Example:
  /usr/bin/python3 models/training/train.py --data models/training/data --imgsz 320 --minutes 25 --seed 0 \\
      --out models/training/runs/exp --export models/person-detector/person-detector.onnx

The dataset is YOLO txt: <data>/{train,val}/images/*.jpg + <data>/{train,val}/labels/*.txt
(class cx cy w h, normalised; 0=person, 1=cart). All images are letterboxed once and cached in RAM.
--minutes is the wall-clock budget for the whole run (loading, training, eval, export). Unless --epochs is
given, the epoch count is derived from a short timing benchmark; the chosen count is printed and stored in
the checkpoint: pass it as --epochs to reproduce the run exactly.
"""

import argparse
import copy
import json
import math
import os
import random
import sys
import time

# libgomp busy-waits by default; on a shared/busy CPU that makes 2-thread training many times slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import CachedDataset, augment  # noqa: E402
from evaluate import evaluate  # noqa: E402
from export import export_onnx  # noqa: E402
from loss import DetLoss  # noqa: E402
from model import TinyDet, count_flops  # noqa: E402

NAMES = ("person", "cart")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="models/training/data", help="dataset root with train/ and val/")
    ap.add_argument("--imgsz", type=int, default=320, help="square letterbox input size (multiple of 32)")
    ap.add_argument("--minutes", type=float, default=25.0, help="wall-clock budget for the whole run")
    ap.add_argument("--epochs", type=int, default=0, help="fixed epoch count (0 = derive from --minutes)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3, help="AdamW peak learning rate")
    ap.add_argument("--wd", type=float, default=0.05, help="AdamW weight decay (conv weights only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="models/training/runs/exp", help="run dir (checkpoints, log)")
    ap.add_argument("--export", default="models/person-detector/person-detector.onnx", help="ONNX output path ('' = skip)")
    ap.add_argument("--eval-every", type=int, default=1, help="evaluate on val every N epochs (always at the end)")
    ap.add_argument("--val-max", type=int, default=300,
                    help="val images (evenly strided subset) for per-epoch monitoring; final eval uses all (0 = all)")
    ap.add_argument("--train-max", type=int, default=0, help="cap on train images (debugging)")
    ap.add_argument("--scale", type=float, default=0.3, help="random zoom range +-")
    ap.add_argument("--translate", type=float, default=0.1, help="random translation, fraction of imgsz")
    ap.add_argument("--no-aug", action="store_true")
    ap.add_argument("--close-aug", type=float, default=0.1, help="fraction of final epochs with geometric aug off")
    ap.add_argument("--width", default="16,32,64,96,112", help="channel widths of the 5 backbone stages")
    ap.add_argument("--head-hidden", type=int, default=32)
    ap.add_argument("--export-imgsz", type=int, default=0,
                    help="input size of the exported ONNX (default: --imgsz); the network is fully convolutional, so a "
                         "model trained at 320 can run at 384 (see the model card for why the bundled model does)")
    ap.add_argument("--export-only", action="store_true", help="only export --weights to --export")
    ap.add_argument("--weights", default="", help="checkpoint for --export-only")
    ap.add_argument("--init", default="",
                    help="start from this checkpoint's weights (EMA if present) instead of random: fine-tuning")
    return ap.parse_args(argv)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class EMA:
    def __init__(self, model, decay=0.9995, tau=300):
        self.ema = copy.deepcopy(model).eval()
        self.decay, self.tau, self.updates = decay, tau, 0
        for p in self.ema.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def lr_at(it, total, warmup, base, final_frac=0.05):
    if it < warmup:
        return base * (0.02 + 0.98 * it / warmup)
    p = (it - warmup) / max(1, total - warmup)
    return base * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def build_optimizer(model, lr, wd):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.ndim == 4 else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.999))


def train_step(model, crit, opt, imgs, tg, mask):
    imgs = imgs.contiguous(memory_format=torch.channels_last)
    loss, items = crit(model(imgs), tg, mask)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    opt.step()
    return loss.detach(), items


def main(argv=None):
    a = parse_args(argv)
    t_start = time.time()
    torch.set_num_threads(a.threads)
    seed_all(a.seed)
    width = tuple(int(x) for x in a.width.split(","))
    model_cfg = {"nc": len(NAMES), "width": width, "head_hidden": a.head_hidden}

    if a.export_only:
        from export import load_checkpoint

        model, ck = load_checkpoint(a.weights)
        shape, size = export_onnx(model, a.export, a.export_imgsz or ck.get("imgsz", a.imgsz), ck.get("names", NAMES))
        print(f"exported {a.export}: output0 {list(shape)}, {size / 1e6:.2f} MB")
        return

    assert a.imgsz % 32 == 0, "--imgsz must be a multiple of 32"
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "log.txt"), "a")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    say(f"args: {json.dumps(vars(a))}")
    t0 = time.time()
    train = CachedDataset(a.data, "train", a.imgsz, workers=a.threads, max_images=a.train_max)
    val = CachedDataset(a.data, "val", a.imgsz, workers=a.threads)
    val_mon = val.subset(a.val_max) if a.val_max and len(val) > a.val_max else val
    say(f"loaded train {len(train)} imgs / {train.n_boxes()} boxes, val {len(val)} imgs / {val.n_boxes()} boxes "
        f"in {time.time() - t0:.1f}s")

    model = TinyDet(**model_cfg)
    if a.init:
        ck0 = torch.load(a.init, map_location="cpu")
        model.load_state_dict(ck0["ema"] if ck0.get("ema") is not None else ck0["model"])
        say(f"initialised from {a.init} (epoch {ck0.get('epoch')}, fitness {ck0.get('fitness')})")
    model = model.to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model: {n_params / 1e6:.3f}M params, {count_flops(model, a.imgsz):.3f} GFLOPs @ {a.imgsz}")
    crit = DetLoss(len(NAMES))
    opt = build_optimizer(model, a.lr, a.wd)
    nb = math.ceil(len(train) / a.batch)
    budget = a.minutes * 60.0

    # --- epoch count from a timing benchmark on a throw-away copy (keeps RNG / weights untouched) ---
    if a.epochs > 0:
        epochs = a.epochs
    else:
        bm = copy.deepcopy(model)
        bopt = build_optimizer(bm, a.lr, a.wd)
        g = torch.Generator().manual_seed(12345)
        idx = list(range(min(a.batch, len(train))))
        times = []
        for i in range(4):
            ts = time.time()
            im, tg, mk = train.batch(idx)
            im, tg, mk = augment(im, tg, mk, g)
            train_step(bm, crit, bopt, im, tg, mk)
            times.append(time.time() - ts)
        sec_img = min(times[1:]) / len(idx)
        ts = time.time()
        bm.eval()
        with torch.no_grad():
            evaluate(bm, val, len(NAMES)) if len(val) <= 64 else None
            if len(val) > 64:
                im, _, _ = val.batch(list(range(64)))
                bm(im.contiguous(memory_format=torch.channels_last))
        ev_img = (time.time() - ts) / min(64, len(val)) * 1.5  # + NMS/matching overhead
        del bm, bopt
        epoch_s = sec_img * len(train) * 1.08  # loss/aug overhead margin
        eval_s = ev_img * len(val_mon)
        elapsed = time.time() - t_start
        reserve = 30.0 + ev_img * len(val)  # final full eval + export + checkpointing
        avail = budget - elapsed - reserve
        per_epoch = epoch_s + eval_s / max(1, a.eval_every)
        epochs = max(1, int(avail / per_epoch))
        say(f"timing: {sec_img * 1000:.1f} ms/img train ({sec_img * 1000:.0f} s per 1000 imgs), "
            f"eval ~{eval_s:.0f}s; est. epoch {epoch_s:.0f}s -> epochs={epochs} (reproduce with --epochs {epochs})")
    total_it = epochs * nb
    warmup = min(max(100, nb), int(0.1 * total_it) + 1)
    close_from = epochs - int(round(a.close_aug * epochs)) if epochs >= 5 else epochs
    # EMA: decay ramps to ~0.98 (window ~50 iterations) by the end of the run; short CPU runs improve fast, so a
    # YOLOv8-style 0.9999 decay would drag in stale weights.
    ema = EMA(model, decay=0.998, tau=max(10.0, total_it / 4))

    gen = torch.Generator().manual_seed(a.seed)
    order_rng = np.random.default_rng(a.seed)
    best_fit, best_ep, it = -1.0, -1, 0
    auto = a.epochs <= 0
    ev_img_meas = None  # measured eval seconds per image
    tr_times = []
    stopped_early = False
    hist = []
    ep = -1
    while ep + 1 < epochs:
        ep += 1
        model.train()
        te = time.time()
        perm = order_rng.permutation(len(train))
        geo = not a.no_aug and ep < close_from
        s_loss = torch.zeros(2)
        for bi in range(nb):
            idx = perm[bi * a.batch:(bi + 1) * a.batch].tolist()
            imgs, tg, mask = train.batch(idx)
            if not a.no_aug:
                imgs, tg, mask = augment(imgs, tg, mask, gen, scale=a.scale if geo else 0.0,
                                         translate=a.translate if geo else 0.0)
            for gparam in opt.param_groups:
                gparam["lr"] = lr_at(it, total_it, warmup, a.lr)
            _, items = train_step(model, crit, opt, imgs, tg, mask)
            ema.update(model)
            s_loss += items
            it += 1
            final_reserve = 25.0 + (ev_img_meas or 0.05) * len(val)
            if time.time() - t_start > budget - final_reserve:
                stopped_early = True
                break
        ep_time = time.time() - te
        s_loss /= max(1, bi + 1)
        last = ep == epochs - 1 or stopped_early
        msg = (f"epoch {ep + 1}/{epochs} box {s_loss[0]:.4f} cls {s_loss[1]:.4f} lr {opt.param_groups[0]['lr']:.2e} "
               f"time {ep_time:.1f}s ({ep_time / len(train) * 1000:.0f}s/1000img)")
        fit = None
        if last or (ep + 1) % a.eval_every == 0:
            tv = time.time()
            ev_ds = val if last else val_mon
            aps, recs = evaluate(ema.ema, ev_ds, len(NAMES))
            ev_img_meas = (time.time() - tv) / len(ev_ds)
            fit = 0.75 * np.nan_to_num(aps[0]) + 0.25 * np.nan_to_num(aps[1], nan=aps[0])
            msg += (f" | val AP50 person {aps[0]:.3f} cart {aps[1]:.3f} R@.25 person {recs[0]:.3f} "
                    f"cart {recs[1]:.3f} ({time.time() - tv:.1f}s)")
            hist.append({"epoch": ep + 1, "ap50": aps, "recall25": recs})
        use_ema = True
        if last:  # EMA can lag in very short runs: also score the raw weights and keep the better
            aps_r, _ = evaluate(model, val, len(NAMES))
            fit_r = 0.75 * np.nan_to_num(aps_r[0]) + 0.25 * np.nan_to_num(aps_r[1], nan=aps_r[0])
            msg += f" | raw weights AP50 person {aps_r[0]:.3f} cart {aps_r[1]:.3f}"
            if fit_r > fit:
                use_ema, fit = False, fit_r
                msg += " (raw kept)"
        say(msg)
        ck = {"model": model.state_dict(), "ema": ema.ema.state_dict() if use_ema else None, "epoch": ep + 1, "epochs": epochs,
              "imgsz": a.imgsz, "names": NAMES, "model_cfg": model_cfg, "args": vars(a), "fitness": fit}
        torch.save(ck, os.path.join(a.out, "last.pt"))
        if fit is not None and fit >= best_fit and fit > 0.01:  # ignore near-zero early evals
            best_fit, best_ep = fit, ep + 1
            torch.save(ck, os.path.join(a.out, "best.pt"))
        if stopped_early:
            say(f"time budget reached during epoch {ep + 1}; stopping")
            break
        tr_times.append(ep_time)
        if auto and not last:
            # shrink (never grow) the plan if the measured pace does not fit the budget (e.g. a busy machine);
            # the cosine schedule is re-targeted to the new end so the LR still anneals.
            per_ep = sum(tr_times[-3:]) / len(tr_times[-3:]) + (ev_img_meas or 0) * len(val_mon) / max(1, a.eval_every)
            left = budget - (time.time() - t_start) - 25.0 - (ev_img_meas or 0.05) * len(val)
            fit_more = int(left / per_ep)
            if ep + 1 + fit_more < epochs:
                new = max(ep + 2, ep + 1 + fit_more)
                if new < epochs:
                    say(f"pace {per_ep:.0f}s/epoch: reducing epochs {epochs} -> {new}")
                    epochs = new
                    total_it = epochs * nb
                    close_from = epochs - int(round(a.close_aug * epochs)) if epochs >= 5 else epochs

    if auto:
        say(f"trained {ep + 1} epochs (auto); for an exactly reproducible rerun pass --epochs {ep + 1}")
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"epochs": epochs, "best_epoch": best_ep, "best_fitness": best_fit, "history": hist,
                   "params": n_params, "train_images": len(train), "val_images": len(val)}, f, indent=1)
    if a.export:
        from export import load_checkpoint

        src = os.path.join(a.out, "best.pt") if best_ep > 0 else os.path.join(a.out, "last.pt")
        best_ep = best_ep if best_ep > 0 else ep + 1
        model_x, _ = load_checkpoint(src)
        shape, size = export_onnx(model_x, a.export, a.export_imgsz or a.imgsz, NAMES)
        say(f"exported {src} (epoch {best_ep}) -> {a.export}: output0 {list(shape)}, {size / 1e6:.2f} MB")
    say(f"done in {(time.time() - t_start) / 60:.1f} min; best fitness {best_fit:.4f} at epoch {best_ep}")


if __name__ == "__main__":
    main()
