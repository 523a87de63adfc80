"""A constant-velocity Kalman filter over boxes, batched over tracks (ByteTrack's, vectorised).

State per track: (cx, cy, a, h, vcx, vcy, va, vh), a = w / h. The noise scales with the box
height, as in ByteTrack / DeepSORT, so one setting fits small and large objects. Every function
takes all tracks at once: a handful of numpy calls per frame, whatever the number of tracks.
"""
from __future__ import annotations

import numpy as np

from ...geometry.boxes import xywh2xyxy, xyxy2xywh

_POS, _VEL = 1 / 20, 1 / 160  # ByteTrack's std weights, relative to the box height
_F = np.eye(8)
_F[:4, 4:] = np.eye(4)  # x += v each frame
_H = np.eye(4, 8)


def xyxy_to_xyah(b: np.ndarray) -> np.ndarray:
    """[N, 4] xyxy -> [N, 4] (cx, cy, w / h, h), the Kalman filter's state form."""
    xyah = xyxy2xywh(np.asarray(b, np.float64))
    xyah[:, 3] = np.maximum(xyah[:, 3], 1e-6)
    xyah[:, 2] /= xyah[:, 3]
    return xyah


def xyah_to_xyxy(m: np.ndarray) -> np.ndarray:
    """[N, >=4] (cx, cy, a, h, ...) -> [N, 4] xyxy."""
    xywh = np.array(m[:, :4], np.float64)
    xywh[:, 2] *= xywh[:, 3]
    return xywh2xyxy(xywh)


def _std(h: np.ndarray, pos: float, vel: float) -> np.ndarray:
    """[N] heights -> [N, 8] standard deviations (the aspect's are fixed, as in ByteTrack)."""
    n = len(h)
    s = np.empty((n, 8))
    s[:, [0, 1, 3]] = (pos * h)[:, None]
    s[:, [4, 5, 7]] = (vel * h)[:, None]
    s[:, 2], s[:, 6] = 1e-2, 1e-5
    return s


def initiate(xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks from [N, 4] measurements -> mean [N, 8], covariance [N, 8, 8]."""
    mean = np.concatenate([xyah, np.zeros_like(xyah)], 1)
    std = _std(xyah[:, 3], 2 * _POS, 10 * _VEL)
    return mean, np.einsum("ni,ij->nij", std ** 2, np.eye(8))


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: mean [N, 8], cov [N, 8, 8] -> the same shapes."""
    q = _std(mean[:, 3], _POS, _VEL) ** 2
    cov = _F @ cov @ _F.T
    cov[:, np.arange(8), np.arange(8)] += q
    return mean @ _F.T, cov


def update(mean: np.ndarray, cov: np.ndarray, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct N tracks with their matched measurements [N, 4] -> mean [N, 8], cov [N, 8, 8]."""
    r = (_POS * mean[:, 3:4]) ** 2 * np.array([1.0, 1.0, 0.0, 1.0]) + np.array([0, 0, 1e-1 ** 2, 0])
    s = cov[:, :4, :4].copy()  # H P H^T: H picks the first four states
    s[:, np.arange(4), np.arange(4)] += r
    hp = cov[:, :4, :]  # H P [N, 4, 8]
    gain = np.linalg.solve(s, hp).transpose(0, 2, 1)  # P H^T S^-1 [N, 8, 4] (P and S symmetric)
    mean = mean + (gain @ (xyah - mean[:, :4])[:, :, None])[:, :, 0]
    return mean, cov - gain @ hp  # K S K^T = K H P
