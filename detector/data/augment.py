"""Training augmentation: mosaic, random affine, HSV jitter, flips (yolov5's recipe).

Every geometric function takes and returns an image plus *pixel labels* [K, 5] float32
(class, x1, y1, x2, y2) in continuous pixel coordinates (pixel i spans [i, i + 1), the
convention of ``detector.geometry.letterbox``), so boxes follow the pixels exactly. Randomness
comes only from the ``rng`` argument (``numpy.random.Generator``): same seed, same output.
Validation and non-mosaic training resize with the shared ``letterbox``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Sequence

import cv2
import numpy as np

from ..geometry.letterbox import PAD_VALUE, as_hw

PAD = (PAD_VALUE,) * 3


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation hyper-parameters; defaults are yolov5's ``hyp.scratch-low.yaml``.

    Gains are fractions (hsv_h 0.015 = +-1.5% of the hue circle), ``degrees``/``shear`` are in
    degrees, ``translate`` a fraction of the output size, ``scale`` a +- gain, and ``flipud``,
    ``fliplr``, ``mosaic`` probabilities.
    """

    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    shear: float = 0.0
    flipud: float = 0.0
    fliplr: float = 0.5
    mosaic: float = 1.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ValueError(f"augment {f.name} must be a non-negative number, got {v!r}")
        for name in ("flipud", "fliplr", "mosaic", "translate", "hsv_h", "hsv_s", "hsv_v"):
            if getattr(self, name) > 1:
                raise ValueError(f"augment {name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.scale >= 1:
            raise ValueError(f"augment scale must be in [0, 1) (the zoom is 1 +- scale), got {self.scale!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, source: str = "<augment>") -> "AugmentConfig":
        """From a mapping (e.g. a YAML section); unknown keys are errors naming ``source``."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"{source}: unknown augment key '{key}' (allowed: {', '.join(sorted(known))})")
        return cls(**data)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def box_candidates(before: np.ndarray, after: np.ndarray, wh_thr: float = 2, ar_thr: float = 20,
                   area_thr: float = 0.1, eps: float = 1e-16) -> np.ndarray:
    """Keep-mask [K] for boxes [K, 4] xyxy that stay usable after a transform: both sides
    > ``wh_thr`` px, area > ``area_thr`` x the area before, aspect ratio < ``ar_thr``."""
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def clip_labels(labels: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Pixel labels clipped to an image of ``shape`` (h, w); a new array."""
    labels = labels.copy()
    labels[:, [1, 3]] = labels[:, [1, 3]].clip(0, shape[1])
    labels[:, [2, 4]] = labels[:, [2, 4]].clip(0, shape[0])
    return labels


def affine_matrix(in_shape: Sequence[int], out_shape: Sequence[int], rng: np.random.Generator,
                  degrees: float, translate: float, scale: float, shear: float) -> tuple[np.ndarray, float]:
    """A random 3x3 map in continuous pixel coords: input centre -> (rotate, scale, shear) ->
    output centre +- ``translate``. Returns (M, zoom)."""
    C = np.eye(3)
    C[:2, 2] = -in_shape[1] / 2, -in_shape[0] / 2
    R = np.eye(3)
    zoom = rng.uniform(1 - scale, 1 + scale)
    R[:2] = cv2.getRotationMatrix2D(center=(0, 0), angle=rng.uniform(-degrees, degrees), scale=zoom)
    S = np.eye(3)
    S[0, 1], S[1, 0] = (math.tan(rng.uniform(-shear, shear) * math.pi / 180) for _ in range(2))
    T = np.eye(3)
    T[:2, 2] = ((0.5 + rng.uniform(-translate, translate)) * out_shape[1],
                (0.5 + rng.uniform(-translate, translate)) * out_shape[0])
    return T @ S @ R @ C, zoom


def warp_labels(labels: np.ndarray, M: np.ndarray, out_shape: Sequence[int]) -> np.ndarray:
    """Pixel labels through the 3x3 affine ``M``: the box enclosing the 4 moved corners, clipped."""
    if not len(labels):
        return labels.copy()
    x1, y1, x2, y2 = labels[:, 1:5].T
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1),
                        np.stack([x1, y2], 1), np.stack([x2, y2], 1)], 1)  # [K, 4, 2]
    moved = corners @ M[:2, :2].T + M[:2, 2]
    out = np.concatenate([labels[:, :1], moved.min(1), moved.max(1)], 1).astype(np.float32)
    return clip_labels(out, out_shape)


def random_affine(img: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
                  degrees: float = 0.0, translate: float = 0.1, scale: float = 0.5, shear: float = 0.0,
                  out_shape: int | Sequence[int] | None = None,
                  interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """Random rotation/zoom/shear/translation of ``img`` [H, W, 3] into ``out_shape`` (h, w;
    default the input's) with its pixel labels [K, 5]; unusable boxes (box_candidates) dropped."""
    out_shape = as_hw(out_shape, "out_shape") if out_shape is not None else img.shape[:2]
    M, zoom = affine_matrix(img.shape[:2], out_shape, rng, degrees, translate, scale, shear)
    if img.shape[:2] != tuple(out_shape) or not np.allclose(M, np.eye(3)):
        # cv2 samples at pixel centres (index coords, centre of pixel i at i); shift in and out
        # of the continuous convention so pixels land exactly where the boxes go.
        half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
        M_idx = np.linalg.inv(half) @ M @ half
        img = cv2.warpAffine(img, M_idx[:2], dsize=(out_shape[1], out_shape[0]), flags=interpolation,
                             borderValue=PAD)
    moved = warp_labels(labels, M, out_shape)
    keep = box_candidates(labels[:, 1:5] * zoom, moved[:, 1:5])
    return img, moved[keep]


def hflip(img: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right; x -> w - x for the boxes."""
    w = img.shape[1]
    labels = labels.copy()
    labels[:, [1, 3]] = w - labels[:, [3, 1]]
    return np.ascontiguousarray(img[:, ::-1]), labels


def vflip(img: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror top-bottom; y -> h - y for the boxes."""
    h = img.shape[0]
    labels = labels.copy()
    labels[:, [2, 4]] = h - labels[:, [4, 2]]
    return np.ascontiguousarray(img[::-1]), labels


def augment_hsv(img: np.ndarray, rng: np.random.Generator, hgain: float = 0.5, sgain: float = 0.5,
                vgain: float = 0.5) -> np.ndarray:
    """Random hue/saturation/value gains on a BGR uint8 image (new array), via lookup tables."""
    if not (hgain or sgain or vgain):
        return img
    r = rng.uniform(-1, 1, 3) * (hgain, sgain, vgain) + 1
    hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float64)
    lut_hue = ((x * r[0]) % 180).astype(np.uint8)  # OpenCV's 8-bit hue wraps at 180
    lut_sat = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def resize_to_fit(img: np.ndarray, labels: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize (keeping the aspect ratio, no padding) to fit in ``shape`` (h, w), as a mosaic tile.

    ``labels`` are normalised [K, 5] (class, cx, cy, w, h); returns pixel labels of the tile.
    """
    h0, w0 = img.shape[:2]
    r = min(shape[0] / h0, shape[1] / w0)
    w1, h1 = max(1, round(w0 * r)), max(1, round(h0 * r))
    if (w1, h1) != (w0, h0):
        img = cv2.resize(img, (w1, h1), interpolation=cv2.INTER_LINEAR)
    return img, normalised_to_pixels(labels, (h1, w1))


def normalised_to_pixels(labels: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """[K, 5] (class, cx, cy, w, h) in 0..1 -> pixel labels [K, 5] (class, x1, y1, x2, y2)."""
    labels = np.asarray(labels, np.float32).reshape(-1, 5)
    h, w = shape[:2]
    cx, cy, bw, bh = labels[:, 1] * w, labels[:, 2] * h, labels[:, 3] * w, labels[:, 4] * h
    return np.stack([labels[:, 0], cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1).astype(np.float32)


def pixels_to_normalised(labels: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Pixel labels [K, 5] -> [K, 5] (class, cx, cy, w, h) normalised to ``shape`` (h, w)."""
    labels = np.asarray(labels, np.float32).reshape(-1, 5)
    h, w = shape[:2]
    x1, y1, x2, y2 = labels[:, 1:5].T
    return np.stack([labels[:, 0], (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h],
                    1).astype(np.float32)


def mosaic4(tiles: Sequence[tuple[np.ndarray, np.ndarray]], out_shape: int | Sequence[int],
            rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig(),
            interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """Four (image, pixel labels) tiles around a random centre on a 2h x 2w canvas, then a
    random affine crop back to ``out_shape`` (h, w). Tiles should already fit in (h, w)
    (``resize_to_fit``). Returns the image [h, w, 3] and its pixel labels."""
    if len(tiles) != 4:
        raise ValueError(f"mosaic4 needs 4 tiles, got {len(tiles)}")
    h, w = as_hw(out_shape, "out_shape")
    yc, xc = int(rng.uniform(0.5 * h, 1.5 * h)), int(rng.uniform(0.5 * w, 1.5 * w))
    canvas = np.full((2 * h, 2 * w, 3), PAD_VALUE, np.uint8)
    placed = []
    for i, (img, labels) in enumerate(tiles):
        th, tw = img.shape[:2]
        # Tile i's corner touches the centre: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
        x0 = xc - tw if i in (0, 2) else xc
        y0 = yc - th if i in (0, 1) else yc
        xa1, ya1, xa2, ya2 = max(x0, 0), max(y0, 0), min(x0 + tw, 2 * w), min(y0 + th, 2 * h)
        canvas[ya1:ya2, xa1:xa2] = img[ya1 - y0:ya2 - y0, xa1 - x0:xa2 - x0]
        shifted = np.array(labels, np.float32).reshape(-1, 5).copy()
        shifted[:, [1, 3]] += x0
        shifted[:, [2, 4]] += y0
        placed.append(shifted)
    labels = clip_labels(np.concatenate(placed, 0), canvas.shape[:2])
    return random_affine(canvas, labels, rng, degrees=cfg.degrees, translate=cfg.translate,
                         scale=cfg.scale, shear=cfg.shear, out_shape=(h, w), interpolation=interpolation)


def photometric_and_flips(img: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                          cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """The post-geometry steps of a training item: HSV jitter, then the random flips."""
    img = augment_hsv(img, rng, cfg.hsv_h, cfg.hsv_s, cfg.hsv_v)
    if rng.random() < cfg.flipud:
        img, labels = vflip(img, labels)
    if rng.random() < cfg.fliplr:
        img, labels = hflip(img, labels)
    return img, labels
