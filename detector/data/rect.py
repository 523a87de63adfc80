"""Rectangular batches (yolov5's ``--rect``): images sorted by aspect ratio, each batch letterboxed
to the smallest stride-multiple shape that holds its images at ``img_size`` on the long side, so
a batch of 16:9 images is inferred at 256x448 instead of padded to 448x448."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def rect_batches(shapes: Sequence[tuple[int, int]], batch_size: int, img_size: int, stride: int,
                 pad: float = 0.0) -> tuple[list[list[int]], list[tuple[int, int]]]:
    """Image shapes [(h, w)] -> (indices of each batch, its input (h, w)), as yolov5's
    ``LoadImagesAndLabels(rect=True)``: indices sorted by h / w and cut into batches; a batch
    whose images are all wider than tall gets h = max(h / w) x img_size (all taller: w alike),
    rounded up to the stride after adding ``pad`` strides (yolov5 validates with 0.5)."""
    hw = np.asarray(shapes, np.float64).reshape(-1, 2)
    ratio = hw[:, 0] / hw[:, 1]
    order = np.argsort(ratio, kind="stable")
    batches, sizes = [], []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        lo, hi = ratio[idx].min(), ratio[idx].max()
        rel = (hi, 1.0) if hi < 1 else (1.0, 1 / lo) if lo > 1 else (1.0, 1.0)
        size = tuple(int(np.ceil(r * img_size / stride + pad)) * stride for r in rel)
        batches.append(idx.tolist())
        sizes.append(size)
    return batches, sizes
