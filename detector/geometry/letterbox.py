"""Letterbox resizing, the one image transform shared by training and inference.

Geometry, in continuous pixel coordinates (pixel i spans [i, i + 1)): a point x of the original
image lands at ``x * ratio_x + left`` in the letterboxed one. ``ratio`` is the per-axis scale
cv2.resize really applies (new size / old size after rounding), not the nominal one, so boxes
follow the pixels exactly; ``letterbox_boxes`` and ``scale_boxes`` are each other's inverse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

PAD_VALUE = 114  # grey, as in yolov5; also written into ONNX metadata


@dataclass(frozen=True)
class LetterboxInfo:
    """How one image was letterboxed: ``ratio`` (x, y) scale, ``pad`` (left, top) in pixels,
    ``orig_shape`` (h, w) before and ``shape`` (h, w) after."""

    ratio: tuple[float, float]
    pad: tuple[int, int]
    orig_shape: tuple[int, int]
    shape: tuple[int, int]


def as_hw(size: int | Sequence[int], what: str = "new_shape") -> tuple[int, int]:
    """An int or (h, w) -> (h, w), refusing non-positive sizes."""
    hw = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(hw) != 2 or any(int(v) != v or v <= 0 for v in hw):
        raise ValueError(f"{what} must be a positive int or (h, w), got {size!r}")
    return int(hw[0]), int(hw[1])


def letterbox(img: np.ndarray, new_shape: int | Sequence[int] = 640, color=(PAD_VALUE,) * 3,
              auto: bool = False, scaleup: bool = True, stride: int = 32) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize ``img`` [H, W(, C)] keeping its aspect ratio (cv2.INTER_LINEAR), then pad it centred.

    ``new_shape`` is the output (h, w); with ``auto`` the padding only reaches the next multiple
    of ``stride``; without ``scaleup`` small images are padded, never enlarged. The pad is split
    in half as yolov5 does (``round(d - 0.1)`` before, ``round(d + 0.1)`` after).
    Returns the image and its LetterboxInfo.
    """
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"letterbox: img must be a non-empty HxW or HxWxC array, got "
                         f"{getattr(img, 'shape', type(img).__name__)}")
    h0, w0 = img.shape[:2]
    nh, nw = as_hw(new_shape)
    r = min(nh / h0, nw / w0)
    if not scaleup:
        r = min(r, 1.0)
    w1, h1 = max(1, int(round(w0 * r))), max(1, int(round(h0 * r)))
    dw, dh = nw - w1, nh - h1
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w1, h1) != (w0, h0):
        img = cv2.resize(img, (w1, h1), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    if top or bottom or left or right:
        value = color if img.ndim == 3 else color[0]
        img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=value)
    info = LetterboxInfo(ratio=(w1 / w0, h1 / h0), pad=(left, top), orig_shape=(h0, w0),
                         shape=tuple(img.shape[:2]))
    return img, info


def letterbox_boxes(boxes: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Original-image boxes [K, 4] xyxy -> letterboxed-image boxes [K, 4] (float32, new array)."""
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    (rx, ry), (left, top) = info.ratio, info.pad
    boxes[:, [0, 2]] = boxes[:, [0, 2]] * rx + left
    boxes[:, [1, 3]] = boxes[:, [1, 3]] * ry + top
    return boxes


def scale_boxes(boxes: np.ndarray, info: LetterboxInfo, orig_shape: Sequence[int] | None = None,
                clip: bool = True) -> np.ndarray:
    """Letterboxed-image boxes [K, 4] xyxy -> original-image boxes [K, 4] (float32, new array),
    clipped to ``orig_shape`` (h, w; default: the one recorded in ``info``)."""
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    (rx, ry), (left, top) = info.ratio, info.pad
    boxes[:, [0, 2]] = (boxes[:, [0, 2]] - left) / rx
    boxes[:, [1, 3]] = (boxes[:, [1, 3]] - top) / ry
    if clip:
        h, w = orig_shape[:2] if orig_shape is not None else info.orig_shape
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return boxes


def preprocess(images: np.ndarray | Sequence[np.ndarray], size: int | Sequence[int] = 640,
               **letterbox_kwargs) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """BGR uint8 images [H, W, 3] (one, or a list) -> (blob [B, 3, h, w] float32 RGB in 0..1,
    C-contiguous; one LetterboxInfo per image).

    One ``cv2.dnn.blobFromImages`` call does BGR->RGB, HWC->CHW and the ``x * (1/255)`` scaling
    in a single pass, instead of three numpy copies.
    """
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    boxed, infos = [], []
    for i, img in enumerate(images):
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"preprocess: image {i} must be an HxWx3 BGR array, got "
                             f"{getattr(img, 'shape', type(img).__name__)}")
        out, info = letterbox(img, size, **letterbox_kwargs)
        boxed.append(out)
        infos.append(info)
    if not boxed:
        raise ValueError("preprocess: no images given")
    if len({b.shape for b in boxed}) > 1:  # auto=True pads each image to its own shape
        raise ValueError(f"preprocess: letterboxed shapes differ {sorted({b.shape for b in boxed})}; "
                         "use auto=False for a batch")
    blob = cv2.dnn.blobFromImages(boxed, scalefactor=1 / 255.0, swapRB=True, crop=False)
    return blob, infos
