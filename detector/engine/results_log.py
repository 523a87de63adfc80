"""Per-epoch results: ``results.csv`` written as training goes, ``results.png`` at the end.

The columns are yolov5's: ``epoch`` (1-based, as on screen), the mean train loss terms, precision
and recall at the best mean F1, pycocotools' AP50 and AP as ``metrics/mAP_0.5`` and
``metrics/mAP_0.5:0.95``, the loss terms on the validation set, and the learning rate of each
parameter group in yolov5's group order (``x/lr0`` biases, ``x/lr1`` weights, ``x/lr2`` BN).
An epoch without validation (``--val-interval``) leaves the metric and val cells empty.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

LOSSES = ("box_loss", "obj_loss", "cls_loss")
COLUMNS = ["epoch", *(f"train/{k}" for k in LOSSES), "metrics/precision", "metrics/recall", "metrics/mAP_0.5",
           "metrics/mAP_0.5:0.95", *(f"val/{k}" for k in LOSSES), "x/lr0", "x/lr1", "x/lr2"]
# results.csv column <- validation metrics key
FROM_METRICS = {"metrics/precision": "P", "metrics/recall": "R", "metrics/mAP_0.5": "AP50",
                "metrics/mAP_0.5:0.95": "AP", **{f"val/{k}": k for k in LOSSES}}
LR_GROUPS = {"x/lr0": "bias", "x/lr1": "weight", "x/lr2": "bn"}
# the columns of results.csv files written before these names, read back when such a run resumes
OLD_NAMES = {"train/box": "train/box_loss", "train/obj": "train/obj_loss", "train/cls": "train/cls_loss",
             "AP50": "metrics/mAP_0.5", "AP": "metrics/mAP_0.5:0.95", "lr": "x/lr1"}
# yolov5's results.png panels, left to right, top row then bottom row
PANELS = [*COLUMNS[1:6], *COLUMNS[8:11], *COLUMNS[6:8]]


def read_rows(path: Path) -> list[dict]:
    """The rows of a results.csv (this layout or the older one), epochs as int, empty cells None."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        row = {OLD_NAMES.get(k.strip(), k.strip()): v.strip() for k, v in r.items() if k and v is not None}
        out.append({k: (int(float(row[k])) if k == "epoch" else float(row[k])) if row.get(k) else None
                    for k in COLUMNS})
    return [r for r in out if r["epoch"] is not None]


class ResultsLog:
    """``keep``: a resumed run continues its own history; a new one (even in a reused
    ``--exist-ok`` folder) starts an empty table."""

    def __init__(self, run_dir: Path, keep: bool = True):
        self.path = Path(run_dir) / "results.csv"
        self.rows: list[dict] = read_rows(self.path) if keep and self.path.is_file() else []

    def add(self, epoch: int, losses: Sequence[float], lrs: Mapping[str, float], metrics: Mapping) -> None:
        """One epoch (0-based ``epoch``): train losses [3], lr per group kind, validation metrics."""
        row = {"epoch": epoch + 1, **{f"train/{k}": float(v) for k, v in zip(LOSSES, losses)},
               **{col: metrics.get(key) for col, key in FROM_METRICS.items()},
               **{col: lrs.get(kind) for col, kind in LR_GROUPS.items()}}
        self.rows = [r for r in self.rows if r["epoch"] != epoch + 1] + [row]
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            w.writerows([[cell(r.get(k)) for k in COLUMNS] for r in self.rows])
        tmp.replace(self.path)

    def figure(self):
        """yolov5's results.png: 2 x 5 panels (train losses, P, R; val losses, mAP) per epoch."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12, 6), tight_layout=True)
        FigureCanvasAgg(fig)
        for ax, key in zip(fig.subplots(2, 5).ravel(), PANELS):
            pts = np.array([(r["epoch"], r[key]) for r in self.rows if r.get(key) is not None]).reshape(-1, 2)
            plot_panel(ax, pts[:, 0], pts[:, 1], key)
        return fig

    def plot(self) -> Path:
        """Save ``figure()`` as results.png beside results.csv."""
        out = self.path.with_name("results.png")
        self.figure().savefig(out, dpi=200)
        return out


def cell(value) -> str:
    """A CSV cell: integers as they are, floats to 5 significant digits (yolov5's %.5g), None empty."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.5g}"


def plot_panel(ax, x: np.ndarray, y: np.ndarray, title: str) -> None:
    """One curve with integer epoch ticks; a flat curve (within 0.1%) gets the range
    [0, max(0.05, 1.2 y)] (and a sliver below, so a line at 0 clears the axis) instead of
    matplotlib's +-0.04 around it; from 10 points a smoothed curve is added."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if not len(x):
        ax.set_yticks([])
        return
    ax.plot(x, y, marker=".", linewidth=2, markersize=8, label="results")
    if len(x) >= 10:
        ax.plot(x, smooth(y), ":", linewidth=2, label="smooth")
    if len(x) == 1 or x[-1] - x[0] < 4:  # a few epochs: whole-number ticks with room either side
        ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax.ticklabel_format(axis="y", useOffset=False)  # never "1e-6+1.462e-2" above the ticks
    lo, hi = float(y.min()), float(y.max())
    if hi - lo <= 1e-3 * max(abs(hi), 1e-3):  # within 0.1%: flat, and drawn so
        top = max(0.05, 1.2 * hi)
        ax.set_ylim(min(0.0, lo) - 0.02 * top, top)


def smooth(y: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """A Gaussian-smoothed copy of y (edges repeated), as yolov5's gaussian_filter1d(y, 3)."""
    r = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return np.convolve(np.pad(y, r, mode="edge"), k / k.sum(), mode="valid")
