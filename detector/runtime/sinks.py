"""Where results go: a fresh run folder (never overwriting), annotated media, YOLO txt, COCO JSON."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .results import Results


def new_run_dir(project: str | Path = "runs/detect", name: str = "exp", exist_ok: bool = False) -> Path:
    """Create and return ``project/name``, or ``name2``, ``name3``... if taken (atomic mkdir);
    with ``exist_ok`` (yolov5's ``--exist-ok``), ``project/name`` even if it exists."""
    project = Path(project)
    project.mkdir(parents=True, exist_ok=True)
    if exist_ok:
        (project / name).mkdir(exist_ok=True)
        return project / name
    for i in range(1, 10000):
        path = project / (name if i == 1 else f"{name}{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"{project}: no free run folder name for {name!r}")


class Sink:
    """Writes one run's outputs into ``run_dir``; ``close()`` flushes videos and the JSON file."""

    def __init__(self, run_dir: Path, *, save_img: bool = True, save_txt: bool = False,
                 save_conf: bool = False, save_json: bool = False, fps: float = 30.0):
        self.dir, self.save_img, self.save_txt = run_dir, save_img, save_txt
        self.save_conf, self.save_json, self.fps = save_conf, save_json, fps
        self.writers: dict[str, cv2.VideoWriter] = {}
        self.coco: list[dict] = []
        if save_txt:
            (run_dir / "labels").mkdir(exist_ok=True)

    def write(self, frame, result: Results, annotated: np.ndarray | None, video: bool) -> None:
        stem = Path(frame.name).stem
        label_stem = f"{stem}_{frame.index}" if video else stem
        if self.save_img and annotated is not None:
            if video:
                self._video(frame.name, annotated)
            else:
                cv2.imwrite(str(self.dir / frame.name), annotated)
        if self.save_txt:
            lines = result.yolo_lines(frame.image.shape, self.save_conf)
            (self.dir / "labels" / f"{label_stem}.txt").write_text("".join(ln + "\n" for ln in lines))
        if self.save_json:
            image_id = int(stem) if stem.isdigit() and not video else label_stem
            self.coco.extend(result.coco(image_id))

    def _video(self, name: str, img: np.ndarray) -> None:
        if name not in self.writers:
            path = self.dir / (Path(name).stem + ".mp4")
            h, w = img.shape[:2]
            self.writers[name] = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        self.writers[name].write(img)

    def close(self) -> None:
        for w in self.writers.values():
            w.release()
        if self.save_json:
            (self.dir / "predictions.json").write_text(json.dumps(self.coco))
