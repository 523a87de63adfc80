"""Scoring tracks with motmetrics (py-motmetrics, the MOTChallenge devkit's Python port)."""
from __future__ import annotations

import numpy as np
import pytest

from detector.geometry.boxes import box_iou, ltwh2xyxy

mm = pytest.importorskip("motmetrics")  # in the dev extra: installed wherever CI runs


def score(gt: np.ndarray, hyp: np.ndarray) -> dict:
    """MOT rows (frame, id, x, y, w, h, ...) of ground truth and of a tracker -> MOTA, IDF1, ID
    switches, misses, false positives; a match needs IoU >= 0.5, as in MOTChallenge. The IoU is
    ours: motmetrics 1.4's ``iou_matrix`` calls ``np.asfarray``, gone in numpy 2."""
    acc = mm.MOTAccumulator(auto_id=True)
    for f in range(1, int(max(gt[:, 0].max(), hyp[:, 0].max(initial=0))) + 1):
        g, h = gt[gt[:, 0] == f], hyp[hyp[:, 0] == f]
        dist = 1 - box_iou(ltwh2xyxy(g[:, 2:6]), ltwh2xyxy(h[:, 2:6]))
        dist[dist > 0.5] = np.nan
        acc.update(g[:, 1].astype(int).tolist(), h[:, 1].astype(int).tolist(), dist)
    names = ["mota", "idf1", "num_switches", "num_misses", "num_false_positives"]
    row = mm.metrics.create().compute(acc, metrics=names, name="seq")
    return {k: float(row[k].iloc[0]) for k in names}
