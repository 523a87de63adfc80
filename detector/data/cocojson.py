"""COCO instances JSON -> ImageRecords with contiguous class indices.

Categories are sorted by id and numbered 0..C-1; ``category_ids[k]`` gives back the COCO id of
class k, and each record's ``image_id`` is the COCO image id, so detections can be written as
COCO results for pycocotools. Crowd boxes (``iscrowd: 1``) are left out of the training labels;
COCOeval reads them from the JSON itself. The JSON is parsed on every load (no cache): one
``json.load`` is the whole cost.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .labels import BOX_TOL, ImageRecord, emit_warnings


@dataclass
class CocoIndex:
    """The parsed instances file: records, class names and COCO category ids (index = class)."""

    records: list[ImageRecord]
    names: list[str]
    category_ids: list[int]
    annotations: Path


def check_box(ann: dict, width: float, height: float) -> tuple[list[float] | None, str]:
    """A COCO ``bbox`` [x, y, w, h] in pixels -> (cx, cy, w, h) normalised, or (None, why)."""
    box = ann.get("bbox")
    if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) for v in box):
        return None, f"bbox must be 4 numbers, got {box!r}"
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        return None, f"non-positive bbox size w={w:g} h={h:g}"
    tol_x, tol_y = BOX_TOL * width, BOX_TOL * height
    if x < -tol_x or y < -tol_y or x + w > width + tol_x or y + h > height + tol_y:
        return None, f"bbox {box} outside the {width:g}x{height:g} image"
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, width), min(y + h, height)
    return [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height], ""


def read_coco(data: dict, images_dir: Path, source: str) -> CocoIndex:
    """A loaded instances dict -> CocoIndex; bad annotations are warned about and dropped."""
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{source}: not a COCO instances file (no '{key}' list)")
    cats = sorted(data["categories"], key=lambda c: c["id"])
    category_ids = [int(c["id"]) for c in cats]
    cls_of = {cid: k for k, cid in enumerate(category_ids)}
    images = {img["id"]: img for img in data["images"]}
    per_image: dict[int, list[list[float]]] = {i: [] for i in images}
    problems = []
    for n, ann in enumerate(data["annotations"]):
        where = f"{source}: annotation {ann.get('id', f'#{n}')}"
        img = images.get(ann.get("image_id"))
        if img is None:
            problems.append(f"{where}: unknown image_id {ann.get('image_id')!r}; label dropped")
            continue
        if ann.get("iscrowd", 0):
            continue
        if ann.get("category_id") not in cls_of:
            problems.append(f"{where}: unknown category_id {ann.get('category_id')!r}; label dropped")
            continue
        box, why = check_box(ann, float(img["width"]), float(img["height"]))
        if box is None:
            problems.append(f"{where}: {why}; label dropped")
            continue
        per_image[img["id"]].append([cls_of[ann["category_id"]], *box])
    emit_warnings(problems)
    records = [ImageRecord(path=os.path.normpath(str(images_dir / img["file_name"])),
                           labels=np.array(per_image[iid], np.float32).reshape(-1, 5),
                           image_id=iid, shape=(int(img["height"]), int(img["width"])))
               for iid, img in sorted(images.items())]
    return CocoIndex(records, [str(c["name"]) for c in cats], category_ids, Path(source))


def load_coco(annotations: str | Path, images_dir: str | Path) -> CocoIndex:
    """Read an instances JSON whose ``file_name``s are relative to ``images_dir``."""
    annotations, images_dir = Path(annotations), Path(images_dir)
    if not annotations.is_file():
        raise FileNotFoundError(f"COCO annotations '{annotations}' not found")
    if not images_dir.is_dir():
        raise FileNotFoundError(f"COCO image folder '{images_dir}' not found")
    try:
        data = json.loads(annotations.read_text())
    except ValueError as e:
        raise ValueError(f"{annotations}: not valid JSON: {e}") from None
    index = read_coco(data, images_dir, str(annotations))
    missing = {r.path for r in index.records if not os.path.isfile(r.path)}
    if missing:  # a stat per image is cheap; decoding all of them here would not be
        emit_warnings([f"{p}: image not found, skipped" for p in sorted(missing)], "missing images")
        index.records = [r for r in index.records if r.path not in missing]
    return index
