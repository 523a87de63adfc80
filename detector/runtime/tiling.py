"""Tiled (sliced) inference for small objects in large images, as SAHI does it.

An image is cut into overlapping ``size`` x ``size`` windows (the last ones shifted to end at the
image edge), plus one pass over the whole image for the objects larger than a tile. Every window
goes through the detector's own letterbox, backend and NMS, in as few backend calls as the
backend allows; the boxes are mapped back to the image and merged across windows: greedy
non-maximum merging on intersection-over-smaller (SAHI's default GREEDYNMM), so an object cut at a
tile edge and its whole view from the neighbouring tile or the full pass become one box, or plain
class-aware NMS.

Why not sahi (0.12) or supervision (0.31): both take an image and return merged detections in one
call (``get_sliced_prediction``, ``InferenceSlicer.__call__``), slicing, inference and merging
together, while our pipeline cuts and letterboxes in the reader thread while the previous frame is
inferred and merged (``runtime.pipeline``, which ``track`` runs on too); they wrap the
model in their own types (sahi's ``DetectionModel`` and per-box ``ObjectPrediction`` objects,
supervision's ``Detections``); supervision has no full-image pass; and they bring dependencies
cspdet does not have (sahi: shapely, fire, click, pillow, requests; supervision: av,
pydeprecate, pillow). What we take from them is the window layout (SAHI's ``get_slice_bboxes``,
the last window shifted to the edge) and the merge rule (``geometry.nms.greedy_nmm``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..geometry.letterbox import LetterboxInfo, preprocess, scale_boxes
from ..geometry.nms import Detections, greedy_nmm, nms, postprocess

MERGES = ("edge", "nmm", "nms")
EDGE_PX = 2.0  # a box within this many letterboxed pixels of an inner tile side was cut there
MAX_TILES = 4096  # per image: a cap before allocating (a 16K x 16K image in 256-px tiles is ~5000)


def window_starts(length: int, size: int, step: int) -> list[int]:
    """Starts of windows of ``size`` every ``step`` px covering [0, length); the last one is
    shifted back to end at ``length`` (so no window hangs over the edge)."""
    if length <= size:
        return [0]
    n = math.ceil((length - size) / step) + 1
    return [min(i * step, length - size) for i in range(n)]


def tile_windows(h: int, w: int, size: int, overlap: float) -> np.ndarray:
    """The tiles of an h x w image: [T, 4] int64 (x1, y1, x2, y2), row by row; neighbours share
    ``round(size * overlap)`` px. An image no larger than one tile has one window: itself."""
    step = max(1, size - round(size * overlap))
    xs, ys = window_starts(w, size, step), window_starts(h, size, step)
    return np.array([(x, y, min(x + size, w), min(y + size, h)) for y in ys for x in xs], np.int64)


@dataclass
class TilePlan:
    """How a batch of images was cut: per window its letterbox ``infos``, the image it belongs to
    (``owner`` [C]), its bounds ``windows`` [C, 4] (x1, y1, x2, y2) in that image and that
    image's ``shapes`` [n_images] (h, w)."""

    infos: list[LetterboxInfo]
    owner: np.ndarray
    windows: np.ndarray
    shapes: list[tuple[int, int]]

    def __len__(self) -> int:  # what Detector.postprocess slices a padded batch with
        return len(self.infos)


def cut_at_edge(boxes: np.ndarray, window: np.ndarray, shape: tuple[int, int], margin: float) -> np.ndarray:
    """boxes [K, 4] (image pixels) of one window -> [K, 4] bool (left, top, right, bottom): the
    box touches (within ``margin`` px) that side of the window, and it is not the image's border,
    so the object may go on beyond it."""
    h, w = shape
    x1, y1, x2, y2 = window.astype(np.float64)
    near = [(boxes[:, 0] <= x1 + margin) & (x1 > 0), (boxes[:, 1] <= y1 + margin) & (y1 > 0),
            (boxes[:, 2] >= x2 - margin) & (x2 < w), (boxes[:, 3] >= y2 - margin) & (y2 < h)]
    return np.stack(near, 1)


class Tiler:
    """Cuts images into tiles for a ``Detector`` and merges the tiles' detections.

    ``size``: tile side in image pixels (each tile is then letterboxed to the detector's
    ``img_size``: ``size == img_size`` runs tiles at full resolution); ``overlap``: the share of a
    tile its neighbour repeats, in [0, 1); ``merge``: "edge" (class-aware NMS at the detector's
    IoU, and a box cut at an inner tile edge merged into the union with the boxes it overlaps by
    more than ``match_thres`` of the smaller one), "nmm" (SAHI's GREEDYNMM: that merging for every
    pair, cut or not) or "nms" (NMS alone); ``full``: also run the whole image once; ``batch``:
    tiles per backend call on backends that take any batch (more only costs memory).
    """

    def __init__(self, size: int, overlap: float = 0.2, *, merge: str = "edge", match_thres: float = 0.5,
                 full: bool = True, batch: int = 16):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
            raise ValueError(f"tile size must be an int >= 32 px, got {size!r}")
        if not 0 <= overlap < 1:
            raise ValueError(f"tile overlap must lie in [0, 1), got {overlap!r}")
        if merge not in MERGES:
            raise ValueError(f"tile merge must be one of {', '.join(MERGES)}, got {merge!r}")
        if not 0 < match_thres <= 1 or batch < 1:
            raise ValueError(f"tile match_thres must lie in (0, 1] and batch be >= 1, got {match_thres}, {batch}")
        self.size, self.overlap, self.merge = int(size), float(overlap), merge
        self.match_thres, self.full, self.batch = match_thres, full, batch

    def windows(self, shape: tuple[int, ...]) -> np.ndarray:
        """The windows [C, 4] (x1, y1, x2, y2) one image of ``shape`` (h, w, ...) is run on:
        the whole image first (with ``full``, or when it fits one tile), then the tiles."""
        h, w = shape[:2]
        tiles = tile_windows(h, w, self.size, self.overlap)
        if len(tiles) > MAX_TILES:
            raise ValueError(f"--tile {self.size}: a {w}x{h} image would need {len(tiles)} tiles "
                             f"(at most {MAX_TILES}); use larger tiles")
        whole = np.array([[0, 0, w, h]], np.int64)
        if len(tiles) == 1:
            return whole
        return np.concatenate([whole, tiles]) if self.full else tiles

    def preprocess(self, images: list[np.ndarray], img_size: tuple[int, int]) -> tuple[np.ndarray, TilePlan]:
        """BGR images -> (blob [C, 3, h, w] of every window of every image, TilePlan)."""
        crops, owner, windows = [], [], []
        for i, img in enumerate(images):
            for x1, y1, x2, y2 in self.windows(img.shape):
                crops.append(img[y1:y2, x1:x2])
                owner.append(i)
                windows.append((x1, y1, x2, y2))
        blob, infos = preprocess(crops, img_size)
        return blob, TilePlan(infos, np.asarray(owner), np.asarray(windows, np.int64).reshape(-1, 4),
                              [img.shape[:2] for img in images])

    def postprocess(self, pred: np.ndarray, plan: TilePlan, nms_args: dict) -> list[Detections]:
        """Decoded rows [C, N, 5 + nc] of the windows -> one Detections per image, boxes in image
        pixels, best first, at most ``max_det``: NMS in each window, then the merge across them."""
        per_window = postprocess(pred[:len(plan.infos)], **nms_args)
        out = []
        for i, shape in enumerate(plan.shapes):
            boxes, cut = [], []
            idx = np.flatnonzero(plan.owner == i)
            for c in idx:
                b = scale_boxes(per_window[c].boxes, plan.infos[c]) + np.tile(plan.windows[c, :2], 2).astype(np.float32)
                boxes.append(b)
                cut.append(cut_at_edge(b, plan.windows[c], shape, EDGE_PX / plan.infos[c].ratio[0]))
            scores = np.concatenate([per_window[c].scores for c in idx])
            cls = np.concatenate([per_window[c].class_ids for c in idx])
            out.append(self.merge_boxes(np.concatenate(boxes), scores, cls, np.concatenate(cut), nms_args))
        return out

    def merge_boxes(self, boxes: np.ndarray, scores: np.ndarray, cls: np.ndarray, cut: np.ndarray,
                    nms_args: dict) -> Detections:
        """One image's boxes from all its windows [K, 4], and which were cut [K] -> merged Detections."""
        class_ids = None if nms_args.get("agnostic") else cls
        max_det, iou = nms_args.get("max_det"), nms_args.get("iou_thres", 0.45)
        if self.merge == "nms":
            keep = nms(boxes, scores, class_ids, iou, max_det, nms_args.get("nms_kind", "iou"),
                       nms_args.get("beta_nms", 1.0))
            merged = boxes[keep]
        elif self.merge == "nmm":
            keep, merged = greedy_nmm(boxes, scores, class_ids, self.match_thres, max_det)
        else:
            keep, merged = greedy_nmm(boxes, scores, class_ids, self.match_thres, max_det, cut=cut, iou_thres=iou)
        return Detections(merged.astype(np.float32), scores[keep], cls[keep])

    def __repr__(self) -> str:
        return (f"Tiler(size={self.size}, overlap={self.overlap}, merge={self.merge!r}, "
                f"match_thres={self.match_thres}, full={self.full}, batch={self.batch})")
