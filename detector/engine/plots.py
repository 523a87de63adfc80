"""Validation charts as yolov5 saves them: PR_curve, F1/P/R_curve and confusion_matrix PNGs.

Up to ``LEGEND_MAX`` classes every class has its own coloured, labelled line; beyond that (COCO's
80) only the ``TOP`` classes with the most ground-truth instances do (the curves that say most),
the others are thin grey lines summed up in one legend entry, so the "all classes" line stays
readable. matplotlib's Agg canvas is used
directly: no global backend is switched and no display is needed.
"""
from __future__ import annotations

from os import PathLike
from typing import Mapping, Sequence

import numpy as np

from .metrics import RECALL_POINTS, PRCurves, smooth

LEGEND_MAX = 20
TOP = 10


def _axes(figsize=(9, 6)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, tight_layout=True)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _name(names, cls: int) -> str:
    return names[cls] if names is not None else str(cls)


def _class_lines(ax, x: np.ndarray, ys: np.ndarray, labels: Sequence[str], rank: np.ndarray) -> None:
    """One line per class (ys [C, n] over x [n]); past LEGEND_MAX classes only the TOP of
    ``rank`` (higher first; ties in class order) keep a colour and a legend entry."""
    top = set(np.argsort(-rank, kind="stable")[:TOP].tolist()) if len(ys) > LEGEND_MAX else set(range(len(ys)))
    others = 0
    for c in range(len(ys)):
        if c not in top:
            ax.plot(x, ys[c], linewidth=0.5, color="grey", alpha=0.5, label="_nolegend_" if others else
                    f"{len(ys) - len(top)} other classes")
            others += 1
    for c in sorted(top, key=lambda c: (-rank[c], c)):
        ax.plot(x, ys[c], linewidth=1, label=labels[c])


def _finish(fig, ax, path, **labels) -> None:
    ax.set(xlim=(0, 1), ylim=(0, 1.01), **labels)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(bbox_to_anchor=(1.04, 1), loc="upper left", fontsize=8)
    fig.savefig(path, dpi=150)


def plot_pr_curve(curves: PRCurves, path: str | PathLike, names: Mapping[int, str] | Sequence[str] | None = None,
                  title: str | None = None) -> None:
    """Each class's interpolated precision over recall and their mean ("all classes", whose
    area is the AP at ``curves.iou_thres``); ``names`` by class id (category id)."""
    fig, ax = _axes()
    labels = [f"{_name(names, int(c))} {ap:.3f}" for c, ap in zip(curves.class_ids, curves.ap)]
    _class_lines(ax, RECALL_POINTS, curves.precision101, labels, curves.num_gt)
    if len(curves.class_ids):
        ax.plot(RECALL_POINTS, curves.precision101.mean(0), linewidth=3, color="blue",
                label=f"all classes {curves.map:.3f} AP@{curves.iou_thres:g}")
    _finish(fig, ax, path, xlabel="Recall", ylabel="Precision",
            title=title or f"Precision-recall at IoU {curves.iou_thres:g}")


METRICS = {"F1": 3, "Precision": 1, "Recall": 2}  # the column of PRCurves.by_confidence


def plot_metric_curve(curves: PRCurves, path: str | PathLike, metric: str,
                      names: Mapping[int, str] | Sequence[str] | None = None) -> None:
    """F1, Precision or Recall of each class against the score threshold, and the mean over
    classes (smoothed as yolov5's, with its best value and threshold in the legend)."""
    out = curves.by_confidence()
    grid, ys = out[0], out[METRICS[metric]]
    fig, ax = _axes()
    _class_lines(ax, grid, ys, [_name(names, int(c)) for c in curves.class_ids], curves.num_gt)
    if len(ys):
        mean = smooth(ys.mean(0), 0.05)
        best = int(mean.argmax())
        ax.plot(grid, mean, linewidth=3, color="blue", label=f"all classes {mean[best]:.2f} at {grid[best]:.3f}")
    _finish(fig, ax, path, xlabel="Confidence", ylabel=metric, title=f"{metric}-confidence curve")


def plot_confusion_matrix(matrix: np.ndarray, path: str | PathLike, names: Sequence[str]) -> None:
    """``matrix`` [nc + 1, nc + 1] (predicted, true; last row and column background), each
    column normalised to sum 1 as yolov5 shows it; cells are annotated below 30 classes."""
    nc = len(matrix) - 1
    shown = matrix / np.maximum(matrix.sum(0, keepdims=True), 1e-9)
    shown = np.where(shown < 0.005, np.nan, shown)  # blank, not a sea of 0.00
    fig, ax = _axes((12, 9))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    ticks = list(names) + ["background"]
    size = 8 if nc < 30 else 6 if nc < 50 else 4.5
    if nc < 99:
        ax.set_xticks(range(nc + 1), ticks, rotation=90, fontsize=size)
        ax.set_yticks(range(nc + 1), ticks, fontsize=size)
    if nc < 30:
        for (i, j), v in np.ndenumerate(shown):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > 0.6 else "black")
    ax.set(xlabel="True", ylabel="Predicted", title="Confusion matrix")
    fig.savefig(path, dpi=150)

