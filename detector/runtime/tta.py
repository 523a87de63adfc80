"""Test-time augmentation (``--augment``), as yolov5's ``_forward_augment``: the letterboxed
batch is run at scales 1, 0.83 and 0.67, the middle one flipped left-right; each pass's boxes are
mapped back to the unscaled, unflipped input, the largest objects are dropped from the full-size
pass and the smallest from the smallest pass, and all rows go to one NMS.

It works on the decoded rows every backend returns, so it runs on all of them: a backend that
takes any input size gets the smaller inputs (yolov5's ``same_shape=False``), one exported for
a fixed size gets the scaled image padded back to that size.
"""
from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

from ..geometry.decode import HeadSpec

SCALES = (1.0, 0.83, 0.67)
FLIPS = (False, True, False)
PAD = 0.447  # yolov5's fill of the scaled image's margin (ImageNet's mean grey)


def scale_blob(blob: np.ndarray, ratio: float, stride: int, same_shape: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """blob [B, 3, h, w] resized by ``ratio`` (bilinear) into the top-left corner of a canvas of
    the same size (``same_shape``) or of the scaled size rounded up to ``stride`` ->
    (canvas, (x scale, y scale) actually applied)."""
    if ratio == 1.0:
        return blob, (1.0, 1.0)
    b, c, h, w = blob.shape
    sh, sw = int(h * ratio), int(w * ratio)
    ch, cw = (h, w) if same_shape else (math.ceil(h * ratio / stride) * stride, math.ceil(w * ratio / stride) * stride)
    out = np.full((b, c, ch, cw), PAD, np.float32)
    for i in range(b):
        hwc = cv2.resize(np.ascontiguousarray(blob[i].transpose(1, 2, 0)), (sw, sh), interpolation=cv2.INTER_LINEAR)
        out[i, :, :sh, :sw] = hwc.transpose(2, 0, 1)
    return out, (sw / w, sh / h)


def level_rows(spec: HeadSpec, hw: tuple[int, int]) -> list[int]:
    """Rows each level adds to the decoded output at input size ``hw``, in the output's order."""
    return [len(a) * (hw[0] // s) * (hw[1] // s) for s, a in zip(spec.strides, spec.anchors)]


def drop_level(rows: np.ndarray, spec: HeadSpec, hw: tuple[int, int], coarsest: bool) -> np.ndarray:
    """rows [B, N, 5 + nc] without the coarsest (largest objects) or finest level's rows, as
    yolov5's ``_clip_augmented``; unchanged if the levels do not account for N exactly."""
    counts = level_rows(spec, hw)
    if len(counts) < 2 or sum(counts) != rows.shape[1]:
        return rows
    k = int(np.argmax(spec.strides) if coarsest else np.argmin(spec.strides))
    start = sum(counts[:k])
    return np.concatenate([rows[:, :start], rows[:, start + counts[k]:]], 1)


def augmented_rows(infer: Callable[[np.ndarray], np.ndarray], blob: np.ndarray, spec: HeadSpec,
                   same_shape: bool) -> np.ndarray:
    """blob [B, 3, h, w] -> decoded rows [B, N', 5 + nc] of the three passes, in the blob's
    pixels, ready for NMS. ``infer``: blob -> rows; ``same_shape``: the model takes one size only."""
    w = blob.shape[3]
    stride = max(spec.strides)
    passes = []
    for ratio, flip in zip(SCALES, FLIPS):
        x, (rx, ry) = scale_blob(blob[..., ::-1] if flip else blob, ratio, stride, same_shape)
        rows = infer(np.ascontiguousarray(x)).copy()
        if ratio == SCALES[0]:
            rows = drop_level(rows, spec, x.shape[2:], coarsest=True)
        elif ratio == SCALES[-1]:
            rows = drop_level(rows, spec, x.shape[2:], coarsest=False)
        rows[..., [0, 2]] /= rx
        rows[..., [1, 3]] /= ry
        if flip:
            rows[..., 0] = w - rows[..., 0]
        passes.append(rows)
    return np.concatenate(passes, 1)
