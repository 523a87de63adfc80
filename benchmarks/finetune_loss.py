"""Continued training of a Darknet model trained with Darknet's loss: each loss and assignment,
and what it does to AP and AP75 (docs/training.md).

    PYTHONPATH=. python benchmarks/finetune_loss.py [--out /tmp/finetune_loss] [--plot docs/finetune_loss.png]

A yolov3-tiny layout at 1/2 to 1/8 width (tests/train/conftest.py ``tiny_darknet_cfg``, no
``iou_thresh``, as yolov4-tiny), 96 px, two shapes, 320 training and 64 validation images:
15 epochs with ``--loss darknet`` (AdamW, lr0 0.006), then 2 epochs (SGD, lr0 0.001 unless
named) from its best.pt in each way below. One thread, seeded. About 10 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from detector.data import make_synthetic_dataset
from detector.engine.train import Trainer, TrainConfig
from tests.train.conftest import tiny_darknet_cfg

# name -> (TrainConfig changes, YOLOLoss attributes set after it is built)
RUNS = {
    "--loss darknet": ({"loss": "darknet"}, {}),
    "--loss darknet --lr0 0.0001": ({"loss": "darknet", "lr0": 1e-4}, {}),
    "--loss yolov5 --iou-thresh 0.213 (the old default)": ({"iou_thresh": 0.213}, {}),
    "--loss yolov5 --iou-thresh 0.213 --freeze-bn": ({"iou_thresh": 0.213, "freeze_bn": True}, {}),
    "--loss yolov5 --iou-thresh 0.213, objectness target 1": ({"iou_thresh": 0.213}, {"obj_iou_ratio": 0.0}),
    "--loss yolov5 --iou-thresh 0.213, ignore_thresh 0.7": ({"iou_thresh": 0.213}, {"ignore_thresh": 0.7}),
    "--loss yolov5 (now: the cfg's assignment, best anchor only)": ({}, {}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/finetune_loss")
    ap.add_argument("--plot", default="docs/finetune_loss.png")
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
                             loss="darknet", val_interval=15, name="pre", **common)).fit()
    best = root / "runs" / "pre" / "weights" / "best.pt"
    rows = [f"| pretrained with --loss darknet | {m0['AP']:.4f} | {m0['AP50']:.4f} | {m0['AP75']:.4f} | | |"]
    points = [("pretrained with --loss darknet", m0)]
    for i, (name, (changes, attrs)) in enumerate(RUNS.items()):
        trainer = Trainer(TrainConfig(weights=str(best), epochs=2, **{"lr0": 0.001, **changes}, name=f"run{i}",
                                      **common))
        for key, value in attrs.items():
            setattr(trainer.loss_fn, key, value)
        m = trainer.fit()
        points.append((name, m))
        rows.append(f"| {name} | {m['AP']:.4f} | {m['AP50']:.4f} | {m['AP75']:.4f} | {m['AP'] - m0['AP']:+.4f} | "
                    f"{m['AP75'] - m0['AP75']:+.4f} |")
    print("| run | AP | AP50 | AP75 | change AP | change AP75 |\n|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(f"{time.time() - t:.0f} s")
    plot(points, args.plot)


def plot(points: list[tuple[str, dict]], path: str) -> None:
    """AP50 and AP75 of each run as horizontal bars, the pretrained model's as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in points][::-1]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(points) + 1.5))
    for k, (key, colour) in enumerate((("AP50", "tab:blue"), ("AP75", "tab:orange"))):
        values = [m[key] for _, m in points][::-1]
        ax.barh([i + 0.2 - 0.4 * k for i in range(len(points))], values, height=0.38, color=colour, label=key)
        ax.axvline(points[0][1][key], color=colour, linestyle="--", linewidth=1)
    ax.set_yticks(range(len(points)), names, fontsize=8)
    ax.set_xlabel("validation AP after 2 more epochs (dashed: before)")
    ax.set_title("A Darknet-trained model, 2 more epochs: AP by loss and assignment")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
