"""Train a model from scratch on the 128 coco128 images and score mAP50 on those same images
after every epoch: evidence that training learns on real photos, not of generalisation.

    python benchmarks/train_coco128.py [--model csppeleenet-efm] [--img-size 320] [--epochs 60]
                                       [--batch-size 8] [--optimizer adamw] [--lr0 0.003]
                                       [--plot coco128.png] [--json coco128.json]

Reads $CSPDET_SHARED/data/coco128 (default ../shared): images/*.jpg with YOLO labels beside them
in labels/*.txt. Writes a normal training run (runs/coco128/expN: results.csv, results.png,
weights), prints AP50/AP per epoch as a Markdown table with the wall time, and draws the mAP50
curve. Train = val here on purpose: 128 images cannot show generalisation, only learning.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from detector.bench.specs import shared_dir
from detector.data.coco import COCO_NAMES
from detector.engine.train import Trainer, TrainConfig


def coco128_root() -> Path:
    root = shared_dir() / "data" / "coco128"
    if not (root / "images").is_dir() or not (root / "labels").is_dir():
        raise SystemExit(f"coco128 not found at {root} (needs images/ and labels/); set CSPDET_SHARED")
    return root


def write_data_yaml(root: Path, folder: Path) -> Path:
    import yaml

    path = folder / "coco128.yaml"
    path.write_text(yaml.safe_dump({"path": str(root), "train": "images", "val": "images",
                                    "names": list(COCO_NAMES)}))
    return path


def plot_curve(rows: list[dict], out: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.plot([r["epoch"] for r in rows], [100 * r["AP50"] for r in rows], marker="o", markersize=3, label="mAP50")
    ax.plot([r["epoch"] for r in rows], [100 * r["AP"] for r in rows], marker="s", markersize=3, label="mAP50:95")
    ax.set_xlabel("epoch")
    ax.set_ylabel("% on the 128 training images")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="csppeleenet-efm")
    p.add_argument("--img-size", type=int, default=320)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=8,
                   help="also the nominal batch: 128 images give few steps, none is spent accumulating")
    p.add_argument("--optimizer", default="adamw", choices=["sgd", "adamw"])
    p.add_argument("--lr0", type=float, default=0.003)
    p.add_argument("--mosaic", type=float, default=0.0, help="off by default: memorising 128 images is the point")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--project", default="runs/coco128")
    p.add_argument("--plot", type=Path, help="mAP50 curve PNG (default: coco128_map.png in the run folder)")
    p.add_argument("--json", type=Path, help="write the per-epoch figures here")
    args = p.parse_args(argv)

    torch.backends.mkldnn.enabled = True  # one shape, many steps: oneDNN's setup pays off
    root = coco128_root()
    with tempfile.TemporaryDirectory() as tmp:
        data = write_data_yaml(root, Path(tmp))
        cfg = TrainConfig(model=args.model, data=str(data), epochs=args.epochs, batch_size=args.batch_size,
                          nbs=args.batch_size, img_size=args.img_size, optimizer=args.optimizer, lr0=args.lr0,
                          weight_decay=5e-4 if args.optimizer == "sgd" else 0.05, warmup_epochs=2,
                          mosaic=args.mosaic, augment={"scale": 0.25, "translate": 0.05}, workers=args.workers,
                          project=args.project, val_interval=1)
        rows, t0 = [], time.time()

        def record(trainer):
            last = trainer.log.rows[-1]
            rows.append({"epoch": last["epoch"], "AP50": last["metrics/mAP_0.5"], "AP": last["metrics/mAP_0.5:0.95"],
                         "minutes": round((time.time() - t0) / 60, 2)})

        trainer = Trainer(cfg, callbacks={"epoch_end": record})
        trainer.fit()
    print(f"\n{args.model} from scratch on coco128 at {args.img_size}, {args.optimizer} lr0 {args.lr0}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| epoch | mAP50 | mAP50:95 | minutes |\n|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['epoch']} | {100 * r['AP50']:.1f} | {100 * r['AP']:.1f} | {r['minutes']:.1f} |")
    out = args.plot or trainer.run_dir / "coco128_map.png"
    plot_curve(rows, out, f"{args.model} from scratch on coco128 ({args.img_size} px, CPU)")
    print(f"\ncurve: {out}; run: {trainer.run_dir}")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "img_size": args.img_size, "epochs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
