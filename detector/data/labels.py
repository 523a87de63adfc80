"""YOLO-layout image lists and label files: discovery, parsing and validation.

A label file sits where its image does with ``/images/`` replaced by ``/labels/`` and the suffix
by ``.txt``; each line is ``class cx cy w h`` normalised to the image, or yolov5's segment line
``class x1 y1 x2 y2 x3 y3 ...`` (a normalised polygon of three or more points), which becomes the
polygon's bounding box clipped to the image. A bad line is dropped with a warning naming the
file and line; the image and the rest of its labels are kept.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

import numpy as np

from ..io.images import IMAGE_SUFFIXES, is_file, list_images
from ..io.text import read_text
from ..geometry.boxes import xywh2xyxy, xyxy2xywh

BOX_TOL = 1e-3  # normalised coords may overshoot [0, 1] by this much (rounding in exporters)
MAX_WARNINGS = 100  # per dataset load; past this a summary line keeps logs readable


class LabelWarning(UserWarning):
    """A label line or image that was dropped; the message names the file (and line)."""


@dataclass
class ImageRecord:
    """One image and its labels [K, 5] float32 (class, cx, cy, w, h) normalised to the image.

    ``shape`` is the original (h, w); ``image_id`` the COCO image id (the number of a numeric
    file stem for YOLO folders, else the image's position in the sorted list).
    """

    path: str
    labels: np.ndarray
    image_id: int
    shape: tuple[int, int]


def img2label_path(path: str | Path) -> Path:
    """``.../images/x/a.jpg`` -> ``.../labels/x/a.txt`` (the last ``images`` folder is swapped)."""
    parts = list(Path(path).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def dataset_images(sources: Iterable[Union[str, Path]], source_name: str = "dataset") -> list[str]:
    """Folders (searched recursively), ``.txt`` lists and single image files, each expanded by
    ``io.images.list_images`` -> sorted, de-duplicated absolute image paths."""
    sources, found = list(sources), []
    for src in sources:
        src = Path(src)
        if not (src.is_dir() or is_file(src) and src.suffix.lower() in IMAGE_SUFFIXES | {".txt"}):
            raise FileNotFoundError(f"{source_name}: image source '{src}' not found "
                                    f"(a folder, a .txt list or an image file)")
        found += list_images(src, recursive=True)
    files = sorted({os.path.normpath(os.path.abspath(f)) for f in found})
    if not files:
        raise FileNotFoundError(f"{source_name}: no images found in {[str(s) for s in sources]}")
    return files


def check_line(fields: list[str], nc: int) -> tuple[list[float] | None, str]:
    """One split label line -> (class, cx, cy, w, h) or (None, why it is rejected). A polygon line
    (2n + 1 fields, n >= 3) gives its bounding box, clipped to the image."""
    polygon = len(fields) >= 7 and len(fields) % 2 == 1
    if len(fields) != 5 and not polygon:
        return None, (f"expected 5 fields 'class cx cy w h' or a polygon 'class x1 y1 x2 y2 x3 y3 ...', "
                      f"got {len(fields)}")
    try:
        values = [float(v) for v in fields]
    except ValueError:
        return None, f"non-numeric value in {' '.join(fields)!r}"
    if not np.isfinite(values).all():
        return None, f"non-finite value in {' '.join(fields)!r}"
    cls = values[0]
    if cls != int(cls):
        return None, f"class id {fields[0]} is not an integer"
    if not 0 <= cls < nc:
        return None, f"class id {fields[0]} out of range [0, {nc})"
    if polygon:
        return polygon_box(cls, np.reshape(values[1:], (-1, 2)))
    cx, cy, w, h = values[1:]
    if w <= 0 or h <= 0:
        return None, f"non-positive box size w={w:g} h={h:g}"
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if min(x1, y1) < -BOX_TOL or max(x2, y2) > 1 + BOX_TOL:
        return None, f"box (cx={cx:g} cy={cy:g} w={w:g} h={h:g}) outside the image"
    return values, ""


def polygon_box(cls: float, points: np.ndarray) -> tuple[list[float] | None, str]:
    """A polygon's points [n, 2] (normalised x, y) -> (class, cx, cy, w, h) of their bounding box
    clipped to the image, or (None, why) when nothing of it is left inside."""
    (x1, y1), (x2, y2) = np.clip(points.min(0), 0, 1), np.clip(points.max(0), 0, 1)
    if x2 <= x1 or y2 <= y1:
        return None, f"polygon of {len(points)} points has no area inside the image"
    return [cls, float(x1 + x2) / 2, float(y1 + y2) / 2, float(x2 - x1), float(y2 - y1)], ""


def parse_label_text(text: str, nc: int, name: str) -> tuple[np.ndarray, list[str]]:
    """Label file contents -> (labels [K, 5] float32 clipped to [0, 1], problem messages).

    Each problem reads ``'{name}:{line}: {why}; label dropped'``.
    """
    rows, problems = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        values, why = check_line(fields, nc)
        if values is None:
            problems.append(f"{name}:{lineno}: {why}; label dropped")
        else:
            rows.append(values)
    labels = np.array(rows, np.float32).reshape(-1, 5)
    _, first = np.unique(labels, axis=0, return_index=True)
    if len(first) < len(labels):  # as yolov5: the same box twice would be counted, and matched, twice
        problems.append(f"{name}: {len(labels) - len(first)} duplicate label(s) removed")
        labels = labels[np.sort(first)]
    xyxy = xywh2xyxy(np.asarray(labels[:, 1:], np.float32).reshape(-1, 4))
    over = ((xyxy < 0) | (xyxy > 1)).any(1)
    if over.any():  # clip the tolerated overshoot, keeping the other edges where they were
        labels[over, 1:] = xyxy2xywh(np.clip(xyxy[over], 0, 1))
    return labels, problems


def read_labels(path: str | Path, nc: int) -> tuple[np.ndarray, list[str]]:
    """A label file -> (labels [K, 5], problems); a missing file is an image without objects."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        return np.zeros((0, 5), np.float32), []
    except ValueError as e:  # unreadable or binary: the message names the file
        return np.zeros((0, 5), np.float32), [f"{e}; labels dropped"]
    return parse_label_text(text, nc, str(path))


def orphan_labels(sources: Iterable[Union[str, Path]], label_files: Iterable[Path]) -> list[str]:
    """A problem line per image folder of ``sources`` whose labels folder holds label files that
    no image of the dataset uses (their boxes would be silently left out); ``classes.txt``,
    which labelling tools write there, is not a label file."""
    used, problems = {os.path.normpath(str(p)) for p in label_files}, []
    for src in map(Path, sources):
        labels_dir = img2label_path(src / "x.jpg").parent
        if not src.is_dir() or labels_dir == src or not labels_dir.is_dir():
            continue
        orphans = sorted(p for p in labels_dir.rglob("*.txt")
                         if p.name != "classes.txt" and os.path.normpath(str(p.absolute())) not in used)
        if orphans:
            problems.append(f"{labels_dir}: {len(orphans)} label file(s) have no image in {src} (e.g. "
                            f"{orphans[0].name}); their boxes are not used")
    return problems


def emit_warnings(problems: list[str], what: str = "label problems") -> None:
    """Warn once per problem, up to MAX_WARNINGS, then once with the count left over."""
    for msg in problems[:MAX_WARNINGS]:
        warnings.warn(msg, LabelWarning, stacklevel=3)
    if len(problems) > MAX_WARNINGS:
        warnings.warn(f"... and {len(problems) - MAX_WARNINGS} more {what}", LabelWarning, stacklevel=3)
