"""Synthetic tracking clips: shapes that move, cross each other and pass behind a pillar, with
MOTChallenge ground truth, drawn like the training images of ``synthetic.py`` (the same shapes,
textures and sensor noise) so the shipped shapes model sees them in distribution.

Ground truth lists an object in a frame when at least half of it is visible (the rest hidden by
the pillar or by shapes drawn over it), with its whole box, as MOTChallenge's ground truth does
for partly hidden people. Seeded: a seed fixes the clip.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from ..geometry.letterbox import as_hw
from .synthetic import (CODECS, DEFAULT_CLASSES, add_noise, background, check_classes, contrasting_colour,
                        distractors, shape_mask)

MIN_VISIBLE = 0.5


def _objects(rng: np.random.Generator, hw, n: int, n_classes: int, sizes, speed, pillar) -> list[dict]:
    """n objects: the first two on near rows, heading at each other (a crossing), the rest random;
    none starts behind the pillar or on another (every object is in the first frame)."""
    h, w = hw
    k = min(h, w) / 256
    objs: list[dict] = []
    for i in range(n):
        half = rng.uniform(*sizes) * k / 2
        for _ in range(50):
            if i < 2:
                pos = np.array([(0.15 if i == 0 else 0.85) * w, (0.45 + 0.12 * i) * h])
                vel = np.array([(1 if i == 0 else -1) * rng.uniform(*speed) * k, rng.uniform(-0.2, 0.2) * k])
            else:
                pos = np.array([rng.uniform(half, w - half), rng.uniform(half, h - half)])
                angle = rng.uniform(0, 2 * np.pi)
                vel = rng.uniform(*speed) * k * np.array([np.cos(angle), np.sin(angle)])
            clear = abs(pos[0] - pillar[0] - pillar[1] / 2) > half + pillar[1] / 2
            if clear and all(np.abs(pos - o["pos"]).max() > half + o["half"] for o in objs):
                break
        objs.append(dict(cls=int(rng.integers(n_classes)), half=half, pos=pos, vel=vel,
                         angle=rng.uniform(0, 360), spin=rng.uniform(-3, 3)))
    return objs


def _step(o: dict, hw) -> None:
    """Move one object a frame on, bouncing off the borders."""
    o["pos"] += o["vel"]
    o["angle"] += o["spin"]
    for axis, limit in ((0, hw[1]), (1, hw[0])):
        if not o["half"] <= o["pos"][axis] <= limit - o["half"]:
            o["vel"][axis] *= -1
            o["pos"][axis] = np.clip(o["pos"][axis], o["half"], limit - o["half"])


def tracking_frames(n_frames: int = 120, img_size=(128, 192), seed: int = 0,
                    classes: Sequence[str] = DEFAULT_CLASSES, n_objects: int = 4,
                    sizes: tuple[float, float] = (50, 80), speed: tuple[float, float] = (2.0, 4.0)
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (BGR frame [H, W, 3], ground truth [K, 7] = (id, class, x1, y1, x2, y2, visibility)),
    IDs from 1. ``sizes``: object extents in px per 256 px of the short side; ``speed`` the same
    per frame."""
    rng = np.random.default_rng([seed, 18])
    hw, classes = as_hw(img_size, "img_size"), check_classes(classes)
    h, w = hw
    bg = background(rng, hw)
    distractors(bg, rng, 3)
    pillar = (round(0.3 * w), max(2, round(28 * min(h, w) / 256)))  # left x, width: thinner than any shape
    bg[:, pillar[0]:pillar[0] + pillar[1]] = background(rng, (h, pillar[1]))
    cover = np.zeros(hw, bool)
    cover[:, pillar[0]:pillar[0] + pillar[1]] = True
    objs = _objects(rng, hw, n_objects, len(classes), sizes, speed, pillar)
    for o in objs:
        o["colour"] = contrasting_colour(rng, bg)
    for _ in range(n_frames):
        frame, masks = bg.copy(), []
        for o in objs:
            mask = shape_mask(classes[o["cls"]], hw, o["pos"], o["half"], o["angle"], 1.0) > 0
            frame[mask & ~cover] = o["colour"]
            masks.append(mask)
        rows, hidden = [], cover.copy()
        for i in range(len(objs) - 1, -1, -1):  # later objects are drawn over earlier ones
            visible = masks[i] & ~hidden
            hidden |= masks[i]
            share = visible.sum() / max(masks[i].sum(), 1)
            if share >= MIN_VISIBLE:
                x, y, bw, bh = cv2.boundingRect(masks[i].astype(np.uint8))
                rows.append([i + 1, objs[i]["cls"], x, y, x + bw, y + bh, share])
        for o in objs:
            _step(o, hw)
        yield add_noise(frame, rng), np.array(sorted(rows), np.float64).reshape(-1, 7)


def make_tracking_videos(out_dir: str | Path, n_videos: int = 1, n_frames: int = 120, img_size=(128, 192),
                         seed: int = 0, classes: Sequence[str] = DEFAULT_CLASSES, n_objects: int = 4,
                         fps: float = 15) -> list[Path]:
    """Write ``track_NNN.avi`` (MJPG) and its ground truth ``track_NNN.txt`` (MOTChallenge:
    frame,id,x,y,w,h,1,class,visibility; frames from 1) for each clip -> the video paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    h, w = as_hw(img_size, "img_size")
    paths = []
    for v in range(n_videos):
        path = out_dir / f"track_{v:03d}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[".avi"]), fps, (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"{path}: OpenCV cannot open an MJPG writer")
        lines = []
        try:
            for f, (frame, gt) in enumerate(tracking_frames(n_frames, (h, w), seed + v, classes, n_objects), 1):
                writer.write(frame)
                lines += [f"{f},{int(i)},{x1:g},{y1:g},{x2 - x1:g},{y2 - y1:g},1,{int(c)},{vis:.3f}\n"
                          for i, c, x1, y1, x2, y2, vis in gt]
        finally:
            writer.release()
        path.with_suffix(".txt").write_text("".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def read_mot(path: str | Path) -> np.ndarray:
    """A MOTChallenge text file -> [N, >=7] float64 rows (frame, id, x, y, w, h, conf, ...)."""
    rows = [[float(v) for v in line.split(",")] for line in Path(path).read_text().splitlines() if line.strip()]
    width = max((len(r) for r in rows), default=10)
    return np.array([r + [-1.0] * (width - len(r)) for r in rows], np.float64).reshape(-1, width)
