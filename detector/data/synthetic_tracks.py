"""Synthetic tracking clips: shapes that move, cross each other and pass behind a pillar, with
MOTChallenge ground truth, drawn like the training images of ``synthetic.py`` (the same shapes,
textures and sensor noise) so the shipped shapes model sees them in distribution.

Ground truth lists an object in a frame when at least half of it is visible (the rest hidden by
the pillar, by shapes drawn over it or by the frame's border), with its whole box (clipped to the
frame), as MOTChallenge's ground truth does for partly hidden people. Seeded: a seed fixes the clip.

Two harder kinds of motion, off by default (the default clips stay byte for byte what they were):
``stop_go`` makes every object but the crossing pair alternate moving and standing still, and
``entering`` adds objects that come in through a border later in the clip, cross the frame and
leave through the opposite border -- what a key-frame tracker must notice between its detector
calls. They draw from their own random stream, so the other objects move as before.
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
    """Move one object a frame on, bouncing off the borders (an entering object passes through
    them); a stop-and-go object stands still in its pauses."""
    go = o.get("schedule")
    if go is not None:
        o["clock"] += 1
        if o["clock"] >= go[0]:  # this phase is over: the next one starts
            go.pop(0)
            o["clock"], o["moving"] = 0, not o["moving"]
        if not o["moving"]:
            return
    o["pos"] += o["vel"]
    o["angle"] += o["spin"]
    if o.get("enters") is not None:
        return
    for axis, limit in ((0, hw[1]), (1, hw[0])):
        if not o["half"] <= o["pos"][axis] <= limit - o["half"]:
            o["vel"][axis] *= -1
            o["pos"][axis] = np.clip(o["pos"][axis], o["half"], limit - o["half"])


def _stop_go(objs: list[dict], rng: np.random.Generator, n_frames: int) -> None:
    """Give objects 3.. a schedule of moving (15-30 frames) and standing (8-20 frames) phases."""
    for o in objs[2:]:
        phases, total = [], 0
        while total < n_frames:
            phases.append(int(rng.integers(15, 31) if len(phases) % 2 == 0 else rng.integers(8, 21)))
            total += phases[-1]
        o.update(schedule=phases, clock=0, moving=True)


def _entering(rng: np.random.Generator, hw, n: int, n_frames: int, n_classes: int, sizes, speed) -> list[dict]:
    """n objects that start outside a random border, at a random frame in the first 60% of the
    clip, and head across the frame to leave through the opposite border."""
    h, w = hw
    k = min(h, w) / 256
    objs = []
    for _ in range(n):
        half = rng.uniform(*sizes) * k / 2
        side = int(rng.integers(4))  # 0 left, 1 right, 2 top, 3 bottom
        v = rng.uniform(*speed) * k
        along = rng.uniform(0.25, 0.75)
        if side < 2:
            pos = np.array([-half if side == 0 else w + half, along * h])
            vel = np.array([v if side == 0 else -v, rng.uniform(-0.3, 0.3) * k])
        else:
            pos = np.array([along * w, -half if side == 2 else h + half])
            vel = np.array([rng.uniform(-0.3, 0.3) * k, v if side == 2 else -v])
        objs.append(dict(cls=int(rng.integers(n_classes)), half=half, pos=pos, vel=vel, angle=rng.uniform(0, 360),
                         spin=rng.uniform(-3, 3), enters=int(rng.integers(3, max(4, int(0.6 * n_frames))))))
    return objs


def _padded_mask(shape: str, hw, o: dict) -> tuple[np.ndarray, int]:
    """(mask of the whole shape on the frame grown by a border of ``pad`` px, pad): an object
    partly outside the frame keeps its full area, so its visible share can be measured."""
    pad = int(np.ceil(2 * o["half"])) + 2
    big = shape_mask(shape, (hw[0] + 2 * pad, hw[1] + 2 * pad), o["pos"] + pad, o["half"], o["angle"], 1.0) > 0
    return big, pad


def tracking_frames(n_frames: int = 120, img_size=(128, 192), seed: int = 0,
                    classes: Sequence[str] = DEFAULT_CLASSES, n_objects: int = 4,
                    sizes: tuple[float, float] = (50, 80), speed: tuple[float, float] = (2.0, 4.0),
                    stop_go: bool = False, entering: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (BGR frame [H, W, 3], ground truth [K, 7] = (id, class, x1, y1, x2, y2, visibility)),
    IDs from 1. ``sizes``: object extents in px per 256 px of the short side; ``speed`` the same
    per frame. ``stop_go``: objects 3.. pause and restart; ``entering``: that many more objects
    (IDs after the others) come in through a border and leave through the opposite one."""
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
    extra = np.random.default_rng([seed, 18, 1])  # the harder motions' own stream
    if stop_go:
        _stop_go(objs, extra, n_frames)
    for o in _entering(extra, hw, entering, n_frames, len(classes), sizes, speed):
        o["colour"] = contrasting_colour(extra, bg)
        objs.append(o)
    for f in range(n_frames):
        frame, masks, areas = bg.copy(), [], []
        for o in objs:
            if o.get("enters") is None:
                mask = shape_mask(classes[o["cls"]], hw, o["pos"], o["half"], o["angle"], 1.0) > 0
                area = mask.sum()
            elif f < o["enters"]:
                mask, area = np.zeros(hw, bool), 0
            else:
                big, pad = _padded_mask(classes[o["cls"]], hw, o)
                mask, area = big[pad:pad + hw[0], pad:pad + hw[1]], big.sum()
            frame[mask & ~cover] = o["colour"]
            masks.append(mask)
            areas.append(area)
        rows, hidden = [], cover.copy()
        for i in range(len(objs) - 1, -1, -1):  # later objects are drawn over earlier ones
            visible = masks[i] & ~hidden
            hidden |= masks[i]
            share = visible.sum() / max(areas[i], 1)
            if share >= MIN_VISIBLE:
                x, y, bw, bh = cv2.boundingRect(masks[i].astype(np.uint8))
                rows.append([i + 1, objs[i]["cls"], x, y, x + bw, y + bh, share])
        for o in objs:
            if o.get("enters") is None or f >= o["enters"]:
                _step(o, hw)
        yield add_noise(frame, rng), np.array(sorted(rows), np.float64).reshape(-1, 7)


def make_tracking_videos(out_dir: str | Path, n_videos: int = 1, n_frames: int = 120, img_size=(128, 192),
                         seed: int = 0, classes: Sequence[str] = DEFAULT_CLASSES, n_objects: int = 4,
                         fps: float = 15, stop_go: bool = False, entering: int = 0) -> list[Path]:
    """Write ``track_NNN.avi`` (MJPG) and its ground truth ``track_NNN.txt`` (MOTChallenge:
    frame,id,x,y,w,h,1,class,visibility; frames from 1) for each clip -> the video paths.
    ``stop_go`` and ``entering`` as in ``tracking_frames``."""
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
            clip = tracking_frames(n_frames, (h, w), seed + v, classes, n_objects, stop_go=stop_go, entering=entering)
            for f, (frame, gt) in enumerate(clip, 1):
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
