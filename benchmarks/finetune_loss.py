"""Continued training of a Darknet model trained with Darknet's loss: each loss, with and without
--freeze-bn, and what it does to AP and AP75 (docs/training.md).

    PYTHONPATH=. python benchmarks/finetune_loss.py [--pre-loss darknet] [--out /tmp/finetune_loss]

A yolov3-tiny layout at 1/2 to 1/8 width (tests/train/conftest.py ``tiny_darknet_cfg``), 96 px,
two shapes: 15 epochs with ``--pre-loss`` (AdamW, lr0 0.006), then 2 epochs at lr0 0.001 (SGD)
from its best.pt with ``--loss darknet`` and ``--loss yolov5``. One thread, seeded.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from detector.data import make_synthetic_dataset
from detector.engine.train import Trainer, TrainConfig
from tests.train.conftest import tiny_darknet_cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pre-loss", default="darknet", choices=["darknet", "yolov5"])
    ap.add_argument("--out", default="/tmp/finetune_loss")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "tiny.cfg"
    cfg.write_text(tiny_darknet_cfg(classes=2, size=96))
    data = make_synthetic_dataset(root / "data", 320, 64, img_size=(96, 96), seed=0, classes=("circle", "cross"),
                                  objects=(2, 5), sizes=(60, 150))
    common = dict(data=str(data), img_size=96, batch_size=16, nbs=16, workers=0, project=str(root / "runs"),
                  exist_ok=True, plots=False)
    t = time.time()
    m0 = Trainer(TrainConfig(cfg=str(cfg), epochs=15, optimizer="adamw", lr0=0.006, warmup_epochs=1, mosaic=0,
                             loss=args.pre_loss, val_interval=15, name=f"pre_{args.pre_loss}", **common)).fit()
    best = root / "runs" / f"pre_{args.pre_loss}" / "weights" / "best.pt"
    rows = [f"| pretrained (--loss {args.pre_loss}) | {m0['AP']:.4f} | {m0['AP75']:.4f} | | |"]
    for loss in ("darknet", "yolov5"):
        for fbn in (False, True):
            m = Trainer(TrainConfig(weights=str(best), epochs=2, lr0=0.001, loss=loss, freeze_bn=fbn,
                                    name=f"{args.pre_loss}_{loss}_{fbn}", **common)).fit()
            rows.append(f"| --loss {loss}{' --freeze-bn' if fbn else ''} | {m['AP']:.4f} | {m['AP75']:.4f} | "
                        f"{m['AP'] - m0['AP']:+.4f} | {m['AP75'] - m0['AP75']:+.4f} |")
    print("| run | AP | AP75 | change AP | change AP75 |\n|---|---|---|---|---|\n" + "\n".join(rows))
    print(f"{time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
