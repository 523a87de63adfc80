"""Where detections go: annotated media, YOLO txt, COCO JSON, in a run folder from ``io.files``.

The COCO JSON follows ``data.coco``'s id rule: category ids from the Detector, image ids the
numbers of numeric file stems, other images numbered on with ``image_ids.json`` naming them.

Every write is checked: a full disk or an unwritable folder stops the run with an ``OSError``
naming the file, never a run that reports "saved" over files that are not there. Videos are
closed (and so playable) by ``close()``, which ``cspdet detect`` calls however the run ends, and
checked by reading their frame count back.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ..data.coco import image_ids, numeric_stem
from ..io.files import write_bytes
from ..io.images import IMAGE_SUFFIXES
from .results import Results

# Suffixes an annotated (colour) image keeps; others are saved as "<name>.jpg" (the whole source
# name kept, so a.dng and a.jpg never collide). OpenCV has no DNG encoder, and its PGM writer
# takes grey images only.
ENCODABLE = IMAGE_SUFFIXES - {".dng", ".pgm"}


def encoded_path(path: Path) -> Path:
    """Where an annotated copy of ``path`` goes: ``path``, or ``path.jpg`` when its suffix cannot hold it."""
    return path if path.suffix.lower() in ENCODABLE else path.with_name(path.name + ".jpg")


def encode_image(path: Path, img: np.ndarray) -> bytes:
    """``img`` encoded in the format of ``encoded_path(path)``."""
    ok, buf = cv2.imencode(encoded_path(path).suffix, img)
    if not ok:
        raise OSError(f"{path}: could not encode the annotated image")
    return buf.tobytes()


def write_image(path: Path, img: np.ndarray) -> Path:
    """Encode ``img`` to ``encoded_path(path)`` -> the path written."""
    data = encode_image(path, img)
    path = encoded_path(path)
    write_bytes(path, data)
    return path


MAX_STEM = 200  # file systems allow 255 bytes a name; labels add "_<frame>.txt" and writes ".part"


def short_name(rel: Path) -> Path:
    """``rel`` with a stem over MAX_STEM bytes cut and made unique by a hash of the whole name."""
    stem = rel.stem
    if len(stem.encode()) <= MAX_STEM:
        return rel
    digest = hashlib.sha1(stem.encode()).hexdigest()[:8]
    cut = stem.encode()[:MAX_STEM - 9].decode(errors="ignore")
    return rel.with_name(f"{cut}-{digest}{rel.suffix}")


class Written(NamedTuple):
    """A frame whose COCO results wait for their image id: its place in the run, its index in its
    source (video), output name, whether it is a video frame, the stem its id is taken from, and
    its results."""

    seq: int
    index: int
    name: str
    video: bool
    stem: str
    dets: list[dict]


def write_coco(out_dir: Path, written: list[Written]) -> dict[int, int]:
    """predictions.json, image ids by ``data.coco.image_ids``: a numeric file stem is the id;
    when any image is numbered otherwise, image_ids.json maps every id to its file (and frame).
    -> {seq: image id} of every item (``cspdet detect``'s Sink and ``cspdet batch`` share it)."""
    items = sorted(written, key=lambda item: item.seq)  # source order, whatever the threads did
    ids = image_ids(item.stem for item in items)
    dets = [dict(d, image_id=i) for i, item in zip(ids, items) for d in item.dets]
    write_bytes(out_dir / "predictions.json", json.dumps(dets).encode())
    if any(i != numeric_stem(item.stem) for i, item in zip(ids, items)):
        files = [{"id": i, "file_name": item.name, **({"frame": item.index} if item.video else {})}
                 for i, item in zip(ids, items)]
        write_bytes(out_dir / "image_ids.json", json.dumps(files, indent=1).encode())
    return {item.seq: i for i, item in zip(ids, items)}


class Sink:
    """Writes one run's outputs into ``run_dir``; ``close()`` finalises videos and the JSON file."""

    def __init__(self, run_dir: Path, *, save_img: bool = True, save_txt: bool = False,
                 save_conf: bool = False, save_json: bool = False, save_crop: bool = False, fps: float = 30.0,
                 vid_stride: int = 1):
        self.dir, self.save_img, self.save_txt, self.save_crop = run_dir, save_img, save_txt, save_crop
        self.save_conf, self.save_json, self.fps = save_conf, save_json, fps if fps > 0 else 30.0
        self.vid_stride = vid_stride
        self.writers: dict[str, tuple[cv2.VideoWriter, Path, list[int]]] = {}
        self.coco: list[Written] = []
        self.written = 0
        if save_txt:
            (run_dir / "labels").mkdir(exist_ok=True)

    def write(self, frame, result: Results, annotated: np.ndarray | None) -> None:
        """``frame.name`` may hold folders (a recursive source): outputs mirror them. A frame with
        ``fps`` is a video's: its annotated copy goes into ``<name>.mp4``, its labels and crops
        take its index."""
        video = frame.fps is not None
        rel = short_name(Path(frame.name))
        label_rel = rel.with_name(f"{rel.stem}_{frame.index}") if video else rel.with_suffix("")
        if self.save_crop:
            self._crops(label_rel, result)
        if self.save_img and annotated is not None:
            if video:
                self._video(frame.name, annotated, frame.fps)
            else:
                out = self.dir / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                write_image(out, annotated)
        if self.save_txt:
            lines = result.yolo_lines(frame.image.shape, self.save_conf)
            out = self.dir / "labels" / f"{label_rel.as_posix()}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(out, "".join(ln + "\n" for ln in lines).encode())
        if self.save_json:  # image ids are given at close(), once every name is known
            stem = f"{Path(frame.name).stem}_{frame.index}" if video else Path(frame.name).stem
            self.coco.append(Written(self.written, frame.index, frame.name, video, stem, result.to_coco(0)))
        self.written += 1

    def _crops(self, rel: Path, result: Results) -> None:
        """``crops/<class>/<image>_<k>.jpg``: box k cut from the original image as yolov5's
        ``--save-crop`` cuts it (the box grown by 2% plus 10 px, kept inside the image)."""
        for k, (label, crop) in enumerate(zip(result.labels, result.crops())):
            if not crop.size:  # a box wholly outside the image
                continue
            out = self.dir / "crops" / label / f"{rel.as_posix()}_{k}.jpg"
            out.parent.mkdir(parents=True, exist_ok=True)
            write_image(out, crop)

    def _write_json(self) -> None:
        write_coco(self.dir, self.coco)

    def _video(self, name: str, img: np.ndarray, fps: float | None = None) -> None:
        if name not in self.writers:
            path = self.dir / short_name(Path(name)).with_suffix(".mp4")
            path.parent.mkdir(parents=True, exist_ok=True)
            h, w = img.shape[:2]
            rate = (fps if fps and fps > 0 else self.fps) / self.vid_stride
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), rate, (w, h))
            if not writer.isOpened():
                raise OSError(f"{path}: cannot open a video writer (folder not writable, or no mp4v encoder)")
            self.writers[name] = (writer, path, [0])
        writer, _, count = self.writers[name]
        writer.write(img)
        count[0] += 1

    def close(self) -> None:
        """Finalise every video (then check it holds the frames written) and the JSON file."""
        errors = []
        for writer, path, (count,) in self.writers.values():
            writer.release()
            cap = cv2.VideoCapture(str(path))
            found = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            cap.release()
            if found < count:
                errors.append(f"{path}: {count} frames written but the file holds {found} (disk full?)")
        self.writers.clear()
        if self.save_json:
            try:
                self._write_json()
            except OSError as e:
                errors.append(str(e))
        if errors:
            raise OSError("; ".join(errors))
