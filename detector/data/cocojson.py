"""COCO instances JSON -> ImageRecords with contiguous class indices.

Categories are sorted by id and numbered 0..C-1; ``category_ids[k]`` gives back the COCO id of
class k, and each record's ``image_id`` is the COCO image id, so detections can be written as
COCO results for pycocotools. Crowd boxes (``iscrowd: 1``) are left out of the training labels;
COCOeval reads them from the JSON itself. The JSON is parsed on every load (no cache): one
``json.load`` is the whole cost.

A bad annotation (unknown image or category, a bbox that is not 4 finite numbers, has no area
or leaves the image) is warned about, naming the file and the annotation id, and dropped, as a
bad YOLO label line is. A bad image or category entry (no ``id``, ``file_name``, ``width`` or
``height``) or a file that is not an instances object is a one-line ValueError naming the file
and the key: nothing sensible can be trained or scored without them. So is an annotation
without an integer ``id``. Annotations that share an ``id`` are renumbered 1..N in file order,
with a warning: pycocotools indexes annotations by id and keeps one per id, so the rest would
be scored as missed (a model at AP50 0.45 scored 0.015 on such a file), while every box in it is
valid ground truth; refusing the file would block data that is otherwise fine.
"""
from __future__ import annotations

import json
import os
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io.text import read_text
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
    if not isinstance(box, list) or len(box) != 4 or not all(is_number(v) for v in box):
        return None, f"bbox must be 4 numbers, got {box!r}"
    x, y, w, h = (float(v) for v in box)
    if not all(map(math.isfinite, (x, y, w, h))):
        return None, f"non-finite bbox {box}"
    if w <= 0 or h <= 0:
        return None, f"non-positive bbox size w={w:g} h={h:g}"
    tol_x, tol_y = BOX_TOL * width, BOX_TOL * height
    if x < -tol_x or y < -tol_y or x + w > width + tol_x or y + h > height + tol_y:
        return None, f"bbox {box} outside the {width:g}x{height:g} image"
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, width), min(y + h, height)
    return [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height], ""


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_id(v: Any) -> bool:
    return is_number(v) and math.isfinite(v) and v == int(v)


# what each image / category entry must hold: key -> (test, what it must be)
KINDS = {"id": (is_id, "an integer"),
         "text": (lambda v: isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != "", "a name"),
         "size": (lambda v: is_number(v) and math.isfinite(v) and v > 0, "a positive number")}
NEEDS = {"categories": (("id", "id"), ("name", "text")),
         "images": (("id", "id"), ("file_name", "text"), ("width", "size"), ("height", "size"))}


def check_entries(data: Any, source: str) -> None:
    """Raise a one-line ValueError naming the file and key unless ``data`` is an instances
    object whose images and categories carry what training and scoring need."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: not a COCO instances file (the top level is a "
                         f"{type(data).__name__}, not an object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{source}: not a COCO instances file (no '{key}' list)")
    for section, keys in NEEDS.items():
        seen = set()
        for n, entry in enumerate(data[section]):
            what = f"{source}: {section}[{n}]"
            if not isinstance(entry, dict):
                raise ValueError(f"{what} is not an object")
            for key, kind in keys:
                test, must = KINDS[kind]
                if not test(entry.get(key)):
                    raise ValueError(f"{what}: '{key}' must be {must}, got {entry.get(key)!r}")
            if entry["id"] in seen:
                raise ValueError(f"{what}: duplicate 'id' {entry['id']!r}")
            seen.add(entry["id"])


def unique_annotation_ids(annotations: list, source: str) -> tuple[list, int]:
    """(``annotations`` with unique ids, how many shared one): when any id repeats, copies
    numbered 1..N in file order. A dict annotation without an integer ``id`` is a one-line
    ValueError naming ``source``; other entries pass through (they are dropped elsewhere)."""
    seen, shared = set(), 0
    for n, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            continue
        if not is_id(ann.get("id")):
            got = "it is missing" if "id" not in ann else f"got {ann['id']!r}"
            raise ValueError(f"{source}: annotations[{n}]: 'id' must be an integer, {got}")
        shared += ann["id"] in seen
        seen.add(ann["id"])
    if not shared:
        return annotations, 0
    return [dict(a, id=n) if isinstance(a, dict) else a for n, a in enumerate(annotations, 1)], shared


def warn_renumbered(source: str, shared: int, total: int) -> None:
    emit_warnings([f"{source}: {shared} annotation(s) share an 'id' with an earlier one (pycocotools keeps "
                   f"one annotation per id and would score the others as missed); renumbered all {total} "
                   "annotations 1..N in file order"], "annotation id problems")


def read_coco(data: Any, images_dir: Path, source: str) -> CocoIndex:
    """A loaded instances dict -> CocoIndex; bad annotations are warned about and dropped."""
    check_entries(data, source)
    data["annotations"], shared = unique_annotation_ids(data["annotations"], source)
    if shared:
        warn_renumbered(source, shared, len(data["annotations"]))
    cats = sorted(data["categories"], key=lambda c: c["id"])
    category_ids = [int(c["id"]) for c in cats]
    cls_of = {cid: k for k, cid in enumerate(category_ids)}
    images = {int(img["id"]): img for img in data["images"]}
    per_image: dict[int, list[list[float]]] = {i: [] for i in images}
    problems = []
    for n, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            problems.append(f"{source}: annotation #{n}: not an object; label dropped")
            continue
        where = f"{source}: annotation {ann.get('id', f'#{n}')}"
        iid, cid = ann.get("image_id"), ann.get("category_id")
        img = images.get(int(iid)) if is_id(iid) else None
        if img is None:
            problems.append(f"{where}: unknown image_id {ann.get('image_id')!r}; label dropped")
            continue
        if ann.get("iscrowd", 0):
            continue
        if not is_id(cid) or int(cid) not in cls_of:
            problems.append(f"{where}: unknown category_id {cid!r}; label dropped")
            continue
        box, why = check_box(ann, float(img["width"]), float(img["height"]))
        if box is None:
            problems.append(f"{where}: {why}; label dropped")
            continue
        per_image[int(iid)].append([cls_of[int(cid)], *box])
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
    text = read_text(annotations)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{annotations}: not valid JSON: {e}") from None
    index = read_coco(data, images_dir, str(annotations))
    missing = {r.path for r in index.records if not os.path.isfile(r.path)}
    if missing:  # a stat per image is cheap; decoding all of them here would not be
        emit_warnings([f"{p}: image not found, skipped" for p in sorted(missing)], "missing images")
        index.records = [r for r in index.records if r.path not in missing]
    return index
