"""Test images of coloured rectangles, and reading boxes back from the pixels."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Saturated BGR colours, far apart and far from the black background and the 114 pad grey, so
# a per-channel tolerance finds each one and never its neighbours or a blend with black.
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0),
           (255, 255, 255), (0, 128, 255), (255, 128, 0), (128, 0, 255), (0, 255, 128), (128, 255, 0)]


def random_rects(rng, shape, n, min_side=10, gap=4):
    """Up to ``n`` non-touching integer rectangles (x1, y1, x2, y2), pixels [x1, x2) x [y1, y2)."""
    h, w = shape
    rects = []
    for _ in range(200):
        if len(rects) == n:
            break
        rw, rh = (int(v) for v in rng.integers(min_side, [max(min_side + 1, w // 3), max(min_side + 1, h // 3)]))
        x1, y1 = int(rng.integers(0, w - rw)), int(rng.integers(0, h - rh))
        r = (x1, y1, x1 + rw, y1 + rh)
        if all(r[0] >= o[2] + gap or o[0] >= r[2] + gap or r[1] >= o[3] + gap or o[1] >= r[3] + gap
               for o in rects):
            rects.append(r)
    return rects


def draw_rects(shape, rects, colours=COLOURS, bg=0):
    """A BGR image [h, w, 3] with rectangle k filled in colours[k], and pixel labels [K, 5] with class k."""
    img = np.full((*shape, 3), bg, np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(rects):
        img[y1:y2, x1:x2] = colours[k]
    labels = np.array([[k, *r] for k, r in enumerate(rects)], np.float32).reshape(-1, 5)
    return img, labels


def colour_mask(img, colour, tol=50):
    """Pixels within ``tol`` of ``colour`` in every channel. With linear interpolation an edge
    pixel mixes the colour with its neighbour; tol 50 of 255 keeps pixels at least ~80% covered,
    so the mask's extent is the true one to within a pixel."""
    return (np.abs(img.astype(np.int16) - np.array(colour, np.int16)) <= tol).all(-1)


def extent(mask):
    """(x1, y1, x2, y2) of a mask's pixels in continuous coords (pixel i spans [i, i + 1)), or None."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def read_bgr(path):
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def tensor_to_bgr(img):
    """A dataset image tensor [3, H, W] RGB 0..1 -> BGR uint8 [H, W, 3]."""
    return np.ascontiguousarray((img.numpy().transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8))


def yolo_line(k, box, shape):
    """Pixel box (x1, y1, x2, y2) -> a YOLO label line for an image of ``shape`` (h, w)."""
    h, w = shape
    x1, y1, x2, y2 = box
    return f"{k} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n"


def write_rect_dataset(root: Path, n=6, shape=(96, 128), seed=0, split="train", ext=".png"):
    """A YOLO-layout split of rectangle images (class k drawn in COLOURS[k]) under ``root``;
    lossless PNG by default so colours stay exact. Returns the image paths."""
    rng = np.random.default_rng(seed)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rects = random_rects(rng, shape, int(rng.integers(1, 5)))
        img, _ = draw_rects(shape, rects)
        path = root / "images" / split / f"{i:04d}{ext}"
        cv2.imwrite(str(path), img)
        (root / "labels" / split / f"{i:04d}.txt").write_text("".join(yolo_line(k, r, shape)
                                                                      for k, r in enumerate(rects)))
        paths.append(path)
    return paths


def write_yaml(root: Path, names=None, text=None, name="data.yaml"):
    """A dataset YAML in ``root`` with train/val = images/train."""
    names = names or [f"c{k}" for k in range(len(COLOURS))]
    path = root / name
    path.write_text(text if text is not None else f"train: images/train\nval: images/train\nnames: {names}\n")
    return path
