"""What ``cspdet val`` prints and saves beside the COCO table, after yolov5's val.py: a per-class
table (images, instances, P and R at the best-F1 score, AP50, AP), the speed line, and the PR,
F1, P, R and confusion-matrix charts."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .confusion import confusion_matrix
from .evaluate import per_class_ap
from .validate import Validation

HEADER = ("Class", "Images", "Instances", "P", "R", "AP50", "AP")
ROW = "%22s" + "%11i" * 2 + "%11.3g" * 4  # yolov5's widths


@dataclass
class ClassRow:
    """One line of the table; ``images``: how many images hold the class."""

    name: str
    images: int
    instances: int
    P: float
    R: float
    AP50: float
    AP: float

    def line(self) -> str:
        return ROW % (self.name[:22], self.images, self.instances, self.P, self.R, self.AP50, self.AP)


def header() -> str:
    return ("%22s" + "%11s" * 6) % HEADER


def class_rows(result: Validation) -> list[ClassRow]:
    """'all' first (AP50 and AP are COCOeval's), then each class with ground truth, by category
    id; P and R are taken at the one score threshold of best mean F1 (yolov5's ``ap_per_class``).
    Crowd regions are no instances."""
    gt = result.gt
    names = {c["id"]: str(c["name"]) for c in gt["categories"]}
    seen = {im["id"] for im in gt["images"]}
    objects = [(a["image_id"], a["category_id"]) for a in gt["annotations"]
               if not a.get("iscrowd", 0) and a["image_id"] in seen and a["category_id"] in names]
    instances: dict[int, int] = {}
    for _, cat in objects:
        instances[cat] = instances.get(cat, 0) + 1
    images: dict[int, int] = {}
    for _, cat in set(objects):
        images[cat] = images.get(cat, 0) + 1
    _, p, r, _ = result.curves.at_best_f1()
    pr = {int(c): (pi, ri) for c, pi, ri in zip(result.curves.class_ids, p, r)}
    m = result.metrics
    rows = [ClassRow("all", len(seen), len(objects), m["P"], m["R"], m["AP50"], m["AP"])]
    for cat, ap50, ap in zip(*per_class_ap(result.evaluator)):
        pi, ri = pr.get(int(cat), (0.0, 0.0))
        rows.append(ClassRow(names[int(cat)], images.get(int(cat), 0), instances.get(int(cat), 0),
                             float(pi), float(ri), float(ap50), float(ap)))
    return rows


def format_rows(rows: list[ClassRow], per_class: bool) -> str:
    """The header, the 'all' row and (``per_class``) the class rows, as yolov5 prints them."""
    lines = [header(), rows[0].line()]
    if rows[0].instances == 0:
        lines.append("WARNING: no labels in this split, so no metrics can be computed")
    return "\n".join(lines + ([r.line() for r in rows[1:]] if per_class else []))


def speed_line(ms: dict[str, float], shape: tuple[int, ...]) -> str:
    """yolov5's: pre-process, inference and NMS milliseconds per image at the batch shape."""
    return (f"Speed: {ms['pre']:.1f}ms pre-process, {ms['inference']:.1f}ms inference, {ms['nms']:.1f}ms NMS "
            f"per image at shape {tuple(shape)}")


def save_plots(result: Validation, out: Path) -> list[Path]:
    """PR_curve.png, F1_curve.png, P_curve.png, R_curve.png, confusion_matrix.png in ``out``."""
    from .plots import plot_confusion_matrix, plot_metric_curve, plot_pr_curve

    cats = sorted(result.gt["categories"], key=lambda c: c["id"])
    names = {c["id"]: str(c["name"]) for c in cats}
    paths = [out / f"{n}.png" for n in ("PR_curve", "F1_curve", "P_curve", "R_curve", "confusion_matrix")]
    plot_pr_curve(result.curves, paths[0], names=names)
    for path, metric in zip(paths[1:4], ("F1", "Precision", "Recall")):
        plot_metric_curve(result.curves, path, metric, names=names)
    plot_confusion_matrix(confusion_matrix(result.gt, result.detections), paths[4], list(names.values()))
    return paths


def summary(result: Validation, rows: list[ClassRow], speed: dict[str, float]) -> dict:
    """metrics.json's body: the metrics, the table's rows and the speed in ms per image."""
    return {**result.metrics, "speed_ms": speed, "classes": [asdict(r) for r in rows[1:]]}


def mean_speed(per_image: list[dict[str, float]]) -> dict[str, float]:
    """Mean pre / inference / NMS ms over images' ``Results.speed``."""
    if not per_image:
        return {"pre": 0.0, "inference": 0.0, "nms": 0.0}
    return {"pre": float(np.mean([s["pre"] for s in per_image])),
            "inference": float(np.mean([s["inference"] for s in per_image])),
            "nms": float(np.mean([s["post"] for s in per_image]))}
