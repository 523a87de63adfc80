"""The pictures a training run saves before it learns anything, as yolov5 saves them.

``labels.jpg``: instances per class, the boxes' shapes drawn centred, and where the box centres
and sizes fall (matplotlib's Agg canvas: no global backend is switched, no display is needed).
``train_batch{0,1,2}.jpg``: the first batches exactly as the model sees them (after mosaic and
augmentation), ground truth boxes named by class.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..geometry.boxes import xywh2xyxy

MAX_SIDE = 1920      # a batch mosaic is at most this wide, as in yolov5
MIN_TILE = 256       # small training images are drawn larger, so their boxes and names can be read
MAX_TILES = 16
MAX_OUTLINES = 1000  # boxes drawn in the shapes panel of labels.jpg


def class_color(cls: int) -> tuple[float, float, float]:
    """An RGB colour in 0..1 for class ``cls``: matplotlib's tab20, its ten strong colours first
    (in tab20's own order neighbours are a colour and its pale twin), cycled."""
    from matplotlib import colormaps

    k = 2 * (int(cls) % 20)
    return colormaps["tab20"](k % 20 + k // 20)[:3]


def _figure(width: float, height: float, **kwargs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def plot_labels(labels: np.ndarray, names: Sequence[str], path: str | Path) -> Path:
    """Save ``labels_figure`` (as labels.jpg)."""
    labels_figure(labels, names).savefig(path, dpi=200)
    return Path(path)


def labels_figure(labels: np.ndarray, names: Sequence[str]):
    """labels [N, 5] (class, cx, cy, w, h) normalised -> a figure of four panels: instances per
    class, the first MAX_OUTLINES boxes centred on one square, centre x-y and width-height histograms."""
    labels = np.asarray(labels, np.float64).reshape(-1, 5)
    cls = labels[:, 0].astype(int)
    fig = _figure(8, 8, tight_layout=True)
    ax = fig.subplots(2, 2).ravel()
    nc = len(names)
    counts = np.bincount(cls, minlength=nc)[:nc]
    ax[0].bar(range(nc), counts, color=[class_color(c) for c in range(nc)], width=0.8)
    ax[0].set_ylabel("instances")
    if nc < 30:
        ax[0].set_xticks(range(nc), list(names), rotation=90, fontsize=8)
    else:
        ax[0].set_xlabel("classes")
    ax[1].imshow(box_outlines(labels[:MAX_OUTLINES]))
    ax[1].set_axis_off()
    for a, (i, j), (xl, yl) in zip(ax[2:], [(1, 2), (3, 4)], [("x", "y"), ("width", "height")]):
        bins = np.histogram2d(labels[:, i], labels[:, j], bins=50, range=[[0, 1], [0, 1]])[0]
        top = np.quantile(bins[bins > 0], 0.9) if bins.any() else 1  # yolov5's pmax=0.9: single boxes show
        a.hist2d(labels[:, i], labels[:, j], bins=50, range=[[0, 1], [0, 1]], cmap="Blues", cmin=1, vmin=0,
                 vmax=max(top, 1))
        a.set(xlabel=xl, ylabel=yl, xlim=(0, 1), ylim=(0, 1))
    for a in ax:
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    fig.suptitle(f"{len(labels)} labels in {int((counts > 0).sum())} of {nc} classes")
    return fig


def box_outlines(labels: np.ndarray, side: int = 1000) -> np.ndarray:
    """labels [N, 5] normalised -> an RGB image [side, side, 3]: every box's outline, centred
    (drawn with OpenCV: a matplotlib patch per box takes a second per thousand)."""
    import cv2

    img = np.full((side, side, 3), 255, np.uint8)
    centred = np.concatenate([np.full((len(labels), 2), 0.5), labels[:, 3:5]], 1)
    for c, (x1, y1, x2, y2) in zip(labels[:, 0].astype(int), (xywh2xyxy(centred) * side).round().astype(int)):
        cv2.rectangle(img, (x1, y1), (x2, y2), bgr(c)[::-1], 1)
    return img


def batch_mosaic(images: np.ndarray) -> tuple[np.ndarray, float, int]:
    """images [B, 3, H, W] RGB 0..1 -> (mosaic [rows * h', cols * w', 3] uint8 on white, scale of a
    tile, columns), the first MAX_TILES images row by row, each resized by the scale."""
    import cv2

    n, _, h, w = images.shape
    n = min(n, MAX_TILES)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    scale = min(MAX_SIDE / (cols * max(h, w)), max(1.0, MIN_TILE / max(h, w)))
    th, tw = round(h * scale), round(w * scale)
    mosaic = np.full((rows * th, cols * tw, 3), 255, np.uint8)
    for i in range(n):
        tile = (images[i].transpose(1, 2, 0) * 255).round().clip(0, 255).astype(np.uint8)
        r, c = divmod(i, cols)
        mosaic[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = cv2.resize(tile, (tw, th), interpolation=cv2.INTER_LINEAR)
    return mosaic, scale, cols


PLOT_CONF = 0.25  # predictions drawn in val_batch*_pred.jpg, as yolov5 draws them


def plot_batch(images, targets, paths: Sequence[str], names: Sequence[str], path: str | Path) -> Path:
    """A batch, images [B, 3, H, W] RGB 0..1 and targets [M, 6] (image, class, cx, cy, w, h
    normalised to the input), as one mosaic JPEG with each box outlined and named and each tile
    titled with its file name (yolov5's train_batch*.jpg and val_batch*_labels.jpg). Predictions
    [M, 7] carry a score last: those of at least PLOT_CONF are drawn as 'name 0.87'
    (val_batch*_pred.jpg). Drawn with OpenCV: matplotlib takes seconds for a batch's hundred
    boxes and names."""
    import cv2

    images, targets = np.asarray(images, np.float32), np.asarray(targets, np.float64)
    targets = targets.reshape(-1, targets.shape[-1] if targets.ndim == 2 and targets.shape[-1] == 7 else 6)
    scored = targets.shape[1] == 7
    if scored:
        targets = targets[targets[:, 6] >= PLOT_CONF]
    mosaic, scale, cols = batch_mosaic(images)
    mosaic = np.ascontiguousarray(mosaic[:, :, ::-1])  # BGR for OpenCV
    h, w = (round(s * scale) for s in images.shape[2:])
    for i in range(min(len(images), MAX_TILES)):
        y0, x0 = (i // cols) * h, (i % cols) * w
        cv2.rectangle(mosaic, (x0, y0), (x0 + w - 1, y0 + h - 1), (255, 255, 255), 2)
        mine = targets[targets[:, 0] == i]
        boxes = xywh2xyxy(mine[:, 2:6]) * [w, h, w, h] + [x0, y0, x0, y0]
        for k, (c, box) in enumerate(zip(mine[:, 1].astype(int), boxes.round().astype(int))):
            name = names[c] if 0 <= c < len(names) else str(c)
            _label(mosaic, box, f"{name} {mine[k, 6]:.2f}" if scored else name, bgr(c))
        _text(mosaic, Path(paths[i]).name[:40], (x0 + 3, y0 + 3), (0, 0, 0), (220, 220, 220))
    cv2.imwrite(str(path), mosaic, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return Path(path)


def bgr(cls: int) -> tuple[int, int, int]:
    r, g, b = class_color(cls)
    return round(b * 255), round(g * 255), round(r * 255)


def _label(img: np.ndarray, box: np.ndarray, name: str, color: tuple[int, int, int]) -> None:
    import cv2

    x1, y1, x2, y2 = (int(v) for v in box)
    cv2.rectangle(img, (x1, y1), (x2, y2), color, 2, cv2.LINE_AA)
    ink = (0, 0, 0) if 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2] > 160 else (255, 255, 255)
    _text(img, name, (x1, y1), color, ink, above=True)


def _text(img: np.ndarray, text: str, corner: tuple[int, int], fill, ink, above: bool = False) -> None:
    """``text`` on a ``fill`` box whose top-left corner is ``corner`` (bottom-left with ``above``,
    moved inside the image when it would leave it)."""
    import cv2

    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    x, y = corner
    top = y - th - base - 2 if above and y - th - base - 2 >= 0 else y
    cv2.rectangle(img, (x, top), (x + tw + 2, top + th + base + 2), fill, -1)
    cv2.putText(img, text, (x + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.4, ink, 1, cv2.LINE_AA)
