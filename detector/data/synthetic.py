"""Synthetic shapes: a small, learnable detection dataset and demo media, made in seconds.

Objects are filled shapes (circle, square, triangle, cross, ...) in random colours, sizes,
rotations and aspect jitter, on textured backgrounds (gradients, stripes, smooth noise, checkers)
with thin distractor lines and sensor noise. Colour never tells the class: only the shape does.
Everything is drawn from ``numpy.random.default_rng`` seeded per image, so a seed fixes the output.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np
import yaml

from ..geometry.letterbox import as_hw
from .synthetic_defaults import DEFAULT_CLASSES, MAX_OBJECTS, SHAPES


def _regular(n: int, r: float = 1.0, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(r * math.cos(phase + 2 * math.pi * k / n), r * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)]


def _star(points: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    outer, inner_pts = _regular(points), _regular(points, inner, -math.pi / 2 + math.pi / points)
    return [p for pair in zip(outer, inner_pts) for p in pair]


_ARM = 0.32  # half-width of a cross arm, as a fraction of the half-size
POLYGONS = {  # unit outlines in [-1, 1]^2
    "square": [(-1, -1), (1, -1), (1, 1), (-1, 1)],
    "triangle": [(0, -1), (1, 0.75), (-1, 0.75)],
    "cross": [(-_ARM, -1), (_ARM, -1), (_ARM, -_ARM), (1, -_ARM), (1, _ARM), (_ARM, _ARM), (_ARM, 1),
              (-_ARM, 1), (-_ARM, _ARM), (-1, _ARM), (-1, -_ARM), (-_ARM, -_ARM)],
    "star": _star(),
    "hexagon": _regular(6),
}


def shape_mask(shape: str, hw: Sequence[int], center: Sequence[float], half: float, angle: float,
               aspect: float) -> np.ndarray:
    """uint8 mask [H, W] of one shape of half-size ``half`` px, rotated by ``angle`` degrees and
    stretched in x by ``aspect`` (y by 1 / aspect)."""
    mask = np.zeros(hw[:2], np.uint8)
    cx, cy = center
    ax, ay = half * math.sqrt(aspect), half / math.sqrt(aspect)
    if shape in ("circle", "ring"):
        axes = (max(1, round(ax)), max(1, round(ay)))
        cv2.ellipse(mask, (round(cx), round(cy)), axes, angle, 0, 360, 255, -1, cv2.LINE_8)
        if shape == "ring":
            inner = (max(1, round(ax * 0.55)), max(1, round(ay * 0.55)))
            cv2.ellipse(mask, (round(cx), round(cy)), inner, angle, 0, 360, 0, -1, cv2.LINE_8)
        return mask
    if shape not in POLYGONS:
        raise ValueError(f"unknown synthetic shape {shape!r}; choose from {SHAPES}")
    pts = np.array(POLYGONS[shape], np.float64) * (ax, ay)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    pts = pts @ np.array([[c, s], [-s, c]]) + (cx, cy)
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)  # 1/16 px
    return mask


def background(rng: np.random.Generator, hw: Sequence[int]) -> np.ndarray:
    """A textured BGR uint8 background [H, W, 3]: gradient, stripes, smooth noise or checkers."""
    h, w = hw[:2]
    c1, c2 = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    kind = rng.integers(4)
    yy, xx = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None]  # broadcast
    theta = rng.uniform(0, math.pi)
    u = (xx * np.float32(math.cos(theta)) + yy * np.float32(math.sin(theta))) / np.float32(max(h, w))
    if kind == 0:  # linear gradient
        t = (u - u.min()) / max(float(np.ptp(u)), 1e-6)
    elif kind == 1:  # sinusoidal stripes
        t = 0.5 + 0.5 * np.sin(u * np.float32(rng.uniform(8, 40)) + np.float32(rng.uniform(0, 2 * math.pi)))
    elif kind == 2:  # smooth blobs: coarse noise, upsampled
        g = int(rng.integers(3, 12))
        t = cv2.resize(rng.uniform(0, 1, (g, g)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    else:  # checkerboard
        cell = int(rng.integers(8, 40))
        t = ((xx // cell + yy // cell) % 2).astype(np.float32)
    # Blend through a 256-entry colour table: one cv2.LUT pass instead of float [H, W, 3] maths.
    t8 = (np.clip(t, 0, 1) * 255).astype(np.uint8)
    table = (c1 + (c2 - c1) * np.linspace(0, 1, 256, dtype=np.float32)[:, None]).astype(np.uint8)
    return cv2.LUT(cv2.merge([t8, t8, t8]), table.reshape(256, 1, 3))


def distractors(img: np.ndarray, rng: np.random.Generator, n: int) -> None:
    """Thin random lines and arcs (in place): edges that are not objects."""
    h, w = img.shape[:2]
    for _ in range(n):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p1, p2, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
        else:
            axes = (int(rng.integers(5, w // 3)), int(rng.integers(5, h // 3)))
            cv2.ellipse(img, p1, axes, float(rng.uniform(0, 180)), 0, float(rng.uniform(60, 200)),
                        colour, 1, cv2.LINE_AA)


def contrasting_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random colour far (L1 > 150) from the mean of ``under``, so objects stay visible."""
    mean = under.reshape(-1, 3).mean(0)
    for _ in range(20):
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - mean).sum() > 150:
            break
    return colour.astype(np.uint8)


def paint(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Fill ``mask`` on ``img`` with a contrasting colour; returns its box (x1, y1, x2, y2) in px."""
    x, y, bw, bh = cv2.boundingRect(mask)
    roi = img[y:y + bh, x:x + bw]  # a view: painting it paints img
    roi[mask[y:y + bh, x:x + bw] > 0] = contrasting_colour(rng, roi)
    return float(x), float(y), float(x + bw), float(y + bh)


def local_mask(shape: str, hw: Sequence[int], center: Sequence[float], half: float, angle: float,
               aspect: float) -> tuple[np.ndarray, tuple[int, int]]:
    """``shape_mask`` drawn in a window around ``center`` only: (mask [h', w'], its (x, y) offset).

    The same pixels as the full-size mask (the offset is even, so rounding half to even lands the
    same way), at a cost that does not grow with the image: 4K frames hold dozens of objects.
    """
    r = int(math.ceil(1.6 * half)) + 4  # a rotated, stretched square's corner reaches 1.58 * half
    x0, y0 = (max(0, (int(c) - r) // 2 * 2) for c in center)
    x1, y1 = min(hw[1], int(center[0]) + r), min(hw[0], int(center[1]) + r)
    mask = shape_mask(shape, (y1 - y0, x1 - x0), (center[0] - x0, center[1] - y0), half, angle, aspect)
    return mask, (x0, y0)


def synthetic_image(rng: np.random.Generator, hw: Sequence[int], classes: Sequence[str],
                    objects: tuple[int, int] = (1, 6), sizes: tuple[float, float] = (20, 90),
                    absolute: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One image [H, W, 3] and its labels [K, 5] (class, cx, cy, w, h) normalised.

    ``sizes`` are object extents in px for a 256-px image, scaled with min(H, W); with
    ``absolute`` in px whatever the image size (small objects in large images, for tiling).
    """
    h, w = hw[:2]
    img = background(rng, hw)
    distractors(img, rng, int(rng.integers(0, 5)))
    k = 1.0 if absolute else min(h, w) / 256
    boxes, rows = [], []
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        for _attempt in range(20):  # place without heavy overlap, else give up on this object
            cls = int(rng.integers(len(classes)))
            half = rng.uniform(*sizes) * k / 2
            centre = (rng.uniform(half, w - half), rng.uniform(half, h - half))
            mask, (ox, oy) = local_mask(classes[cls], hw, centre, half, rng.uniform(0, 360), rng.uniform(0.8, 1.25))
            bx, by, bw, bh = cv2.boundingRect(mask)
            box = (bx + ox, by + oy, bw, bh)
            if box[2] > 2 and box[3] > 2 and all(overlap(box, b) < 0.15 for b in boxes):
                break
        else:
            continue
        boxes.append(box)
        x1, y1, x2, y2 = paint(img[oy:oy + mask.shape[0], ox:ox + mask.shape[1]], mask, rng)
        x1, x2, y1, y2 = x1 + ox, x2 + ox, y1 + oy, y2 + oy
        rows.append([cls, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h])
    return add_noise(img, rng), np.array(rows, np.float32).reshape(-1, 5)


def add_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian sensor noise (sigma 2..10). Drawn at half resolution and upsampled with nearest
    neighbour: drawing 3 normals per pixel was the slowest step of the whole generator."""
    h, w = img.shape[:2]
    small = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32) * np.float32(rng.uniform(2, 10))
    noise = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.add(img, noise, dtype=cv2.CV_8U)


def overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """Intersection over the smaller area of two (x, y, w, h) boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(iw, 0) * max(ih, 0) / max(1, min(a[2] * a[3], b[2] * b[3]))


def check_classes(classes: Sequence[str]) -> list[str]:
    classes = list(classes)
    unknown = [c for c in classes if c not in SHAPES]
    if not classes or unknown or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct names from {SHAPES}, got {classes}")
    return classes


def make_synthetic_dataset(root: str | Path, n_train: int = 256, n_val: int = 64, img_size=(256, 256),
                           seed: int = 0, classes: Sequence[str] = DEFAULT_CLASSES,
                           objects: tuple[int, int] = (1, 6), sizes: tuple[float, float] = (20, 90),
                           progress: Callable[[int], object] | None = None, absolute: bool = False) -> Path:
    """Write a YOLO-layout dataset under ``root`` (images/{train,val}, labels/{train,val},
    data.yaml) and return the YAML path. Same arguments, same bytes. ``progress(1)`` is called
    after each image. ``absolute``: ``sizes`` in px, not per 256 px of the short side."""
    root, hw, classes = Path(root), as_hw(img_size, "img_size"), check_classes(classes)
    if not 1 <= objects[0] <= objects[1] <= MAX_OBJECTS:
        raise ValueError(f"objects {tuple(objects)}: need 1 <= MIN <= MAX <= {MAX_OBJECTS} per image")
    for split_id, (split, n) in enumerate((("train", n_train), ("val", n_val))):
        img_dir, lbl_dir = root / "images" / split, root / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        for old in [*img_dir.glob(f"{split}_*.jpg"), *lbl_dir.glob(f"{split}_*.txt")]:
            old.unlink()  # only our own names: a re-run with a smaller n leaves no stale images
        for i in range(n):
            img, labels = synthetic_image(np.random.default_rng([seed, split_id, i]), hw, classes,
                                          objects, sizes, absolute)
            cv2.imwrite(str(img_dir / f"{split}_{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            (lbl_dir / f"{split}_{i:05d}.txt").write_text(
                "".join(f"{int(c)} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}\n" for c, x, y, bw, bh in labels))
            if progress is not None:
                progress(1)
    data = {"train": "images/train", "val": "images/val", "names": classes}
    path = root / "data.yaml"
    path.write_text(f"# synthetic shapes (cspdet), seed {seed}, {hw[0]}x{hw[1]}\n" + yaml.safe_dump(data))
    return path


def demo_frames(n_frames: int = 90, img_size=(360, 640), seed: int = 0,
                classes: Sequence[str] = DEFAULT_CLASSES, n_objects: int = 4
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames of shapes drifting (and bouncing) across one textured background:
    yields (BGR frame [H, W, 3], labels [K, 5] (class, cx, cy, w, h) normalised)."""
    rng = np.random.default_rng(seed)
    hw, classes = as_hw(img_size, "img_size"), check_classes(classes)
    h, w = hw
    bg = background(rng, hw)
    distractors(bg, rng, 3)
    k = min(h, w) / 256
    objs = [dict(cls=int(rng.integers(len(classes))), half=rng.uniform(25, 45) * k,
                 pos=np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h]),
                 vel=rng.uniform(-4, 4, 2) * k, angle=rng.uniform(0, 360), spin=rng.uniform(-5, 5),
                 colour=rng.integers(0, 256, 3).astype(np.uint8)) for _ in range(n_objects)]
    for _ in range(n_frames):
        frame, rows = bg.copy(), []
        for o in objs:
            mask = shape_mask(classes[o["cls"]], hw, o["pos"], o["half"], o["angle"], 1.0)
            frame[mask > 0] = o["colour"]
            x, y, bw, bh = cv2.boundingRect(mask)
            rows.append([o["cls"], (x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h])
            o["pos"] += o["vel"]
            o["angle"] += o["spin"]
            for axis, limit in ((0, w), (1, h)):  # bounce off the borders
                if not o["half"] <= o["pos"][axis] <= limit - o["half"]:
                    o["vel"][axis] *= -1
                    o["pos"][axis] = np.clip(o["pos"][axis], o["half"], limit - o["half"])
        yield frame, np.array(rows, np.float32).reshape(-1, 5)


CODECS = {".avi": "MJPG", ".mp4": "mp4v"}


def make_demo_video(path: str | Path, n_frames: int = 90, img_size=(360, 640), fps: float = 15,
                    seed: int = 0, classes: Sequence[str] = DEFAULT_CLASSES, n_objects: int = 4) -> Path:
    """Write a demo clip of moving shapes (``.avi`` MJPG or ``.mp4`` mp4v); returns its path."""
    path = Path(path)
    if path.suffix.lower() not in CODECS:
        raise ValueError(f"demo video '{path}': suffix must be one of {sorted(CODECS)}")
    h, w = as_hw(img_size, "img_size")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[path.suffix.lower()]), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"demo video '{path}': OpenCV cannot open a {CODECS[path.suffix.lower()]} writer")
    try:
        for frame, _ in demo_frames(n_frames, (h, w), seed, classes, n_objects):
            writer.write(frame)
    finally:
        writer.release()
    return path


def make_demo_images(out_dir: str | Path, n: int = 4, img_size=(360, 640), seed: int = 0,
                     classes: Sequence[str] = DEFAULT_CLASSES) -> list[Path]:
    """Write ``n`` still demo images (``demo_000.jpg``...) of the same kind; returns their paths."""
    out_dir, hw = Path(out_dir), as_hw(img_size, "img_size")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img, _ = synthetic_image(np.random.default_rng([seed, 7, i]), hw, check_classes(classes), (2, 6))
        paths.append(out_dir / f"demo_{i:03d}.jpg")
        cv2.imwrite(str(paths[-1]), img)
    return paths
