"""What a training run does after its last epoch, as yolov5's train.py: ``best.pt`` (the weights a
user will deploy) is validated once more and reported as ``cspdet val`` reports, with the
per-class table, the speed line, COCO's 12 numbers, the PR / F1 / P / R and confusion-matrix
charts, and ``val_batch{0,1,2}_labels.jpg`` beside ``val_batch{0,1,2}_pred.jpg`` (the same
images with the ground truth, and with the model's boxes scoring 0.25 or more)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..geometry.boxes import xyxy2xywh
from ..geometry.letterbox import letterbox_boxes
from ..models.loading import load_detector
from .evaluate import format_table
from .report import class_rows, format_rows, save_plots, speed_line
from .train_plots import plot_batch
from .validate import torch_predict, validate

PLOTTED_BATCHES = 3


def validate_best(trainer) -> dict | None:
    """Validate the run's best.pt (else last.pt) on the trainer's validation split, print yolov5's
    report and save its pictures in the run folder -> the metrics (None without a checkpoint)."""
    weights = next((w for w in (trainer.run_dir / "weights" / n for n in ("best.pt", "last.pt")) if w.is_file()), None)
    if weights is None or trainer.val_ds is None:
        return None
    model = load_detector(weights).to(trainer.device)
    loader, ds, plots = trainer.val_loader(), trainer.val_ds, trainer.cfg.plots
    timer = Timer(trainer.device)
    base = torch_predict(model, ds.category_ids, device=trainer.device, on_maps=timer.forward_done)
    batch = {"n": -1}

    def batches():
        for images, targets, metas in loader:
            batch.update(n=batch["n"] + 1, images=images, targets=targets, metas=metas)
            batch.setdefault("shape", tuple(images.shape))
            yield images, metas

    def predict(images, metas) -> list[dict]:
        timer.start()
        dets = base(images, metas)
        timer.done(len(metas))
        if plots and batch["n"] < PLOTTED_BATCHES:
            save_batch_plots(trainer.run_dir, batch, metas, dets, ds)
        return dets

    print(f"validating {weights}")
    result = validate(predict, batches(), ds, total=len(loader), desc=weights.name, leave=False)
    print(format_rows(class_rows(result), per_class=len(ds.names) > 1))
    print(speed_line(timer.per_image(), batch.get("shape", ())))
    print(format_table(result.metrics))
    if plots:
        save_plots(result, trainer.run_dir)
    return result.metrics


class Timer:
    """Forward and post-processing (decode + NMS) milliseconds per image, as yolov5's speed line;
    images come letterboxed from the loader's workers, so pre-processing is not timed here."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"
        self.t0 = self.t1 = 0.0
        self.forward = self.post = 0.0
        self.images = 0

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def start(self) -> None:
        self.t0 = self._now()

    def forward_done(self, maps, metas) -> None:
        self.t1 = self._now()

    def done(self, n: int) -> None:
        t2 = self._now()
        self.forward, self.post, self.images = self.forward + self.t1 - self.t0, self.post + t2 - self.t1, self.images + n

    def per_image(self) -> dict[str, float]:
        n = max(self.images, 1)
        return {"pre": 0.0, "inference": self.forward * 1e3 / n, "nms": self.post * 1e3 / n}


def save_batch_plots(run_dir: Path, batch: dict, metas, dets: list[dict], ds) -> None:
    """val_batch{n}_labels.jpg and val_batch{n}_pred.jpg of the batch in ``batch``; ``dets`` are
    the COCO results (original pixels) of its readable items ``metas``."""
    images, n, everyone = batch["images"], batch["n"], batch["metas"]
    paths = [m.path for m in everyone]
    plot_batch(images, batch["targets"], paths, ds.names, run_dir / f"val_batch{n}_labels.jpg")
    plot_batch(images, pred_rows(dets, everyone, ds.category_ids), paths, ds.names, run_dir / f"val_batch{n}_pred.jpg")


def pred_rows(dets: list[dict], metas, category_ids) -> np.ndarray:
    """COCO results of a batch (original pixels) -> [M, 7] (index in the batch, class, cx, cy, w,
    h normalised to the letterboxed input, score): the loader's target layout plus the score."""
    slot = {m.image_id: (i, m) for i, m in enumerate(metas)}
    index = {c: k for k, c in enumerate(category_ids)}
    rows = []
    for d in dets:
        b, meta = slot[d["image_id"]]
        x, y, w, h = d["bbox"]
        box = letterbox_boxes(np.array([[x, y, x + w, y + h]]), meta.letterbox)
        cx, cy, bw, bh = (xyxy2xywh(box)[0] / np.array([*meta.shape[::-1], *meta.shape[::-1]])).tolist()
        rows.append([b, index[d["category_id"]], cx, cy, bw, bh, d["score"]])
    return np.array(rows, np.float64).reshape(-1, 7)
