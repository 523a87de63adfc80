"""yolov5's ``--cache ram|disk``: decoded training and validation images kept so no epoch decodes a
JPEG twice. As in yolov5 an image is stored at most ``max_side`` on its long side (the training
size: it is never used larger), which keeps a RAM cache of large photos small; the dataset maps
letterbox geometry back to the original pixels, so scores are still against the original labels.

``ram``: arrays in this process, filled before the loader's workers start (they share them).
``disk``: one ``.npy`` per image under ``$CSPDET_CACHE_DIR`` (else ``~/.cache/cspdet``, else the
temp folder) ``/images``, named by a hash of the image's path, size, mtime and ``max_side``:
a changed image gets a new entry, never a stale one, and a read-only dataset folder is fine.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ..io.files import write_bytes
from ..io.images import ImageError, read_image
from .cache import fallback_dirs, stat_key, writable_dir

MODES = ("ram", "disk")
RAM_SHARE = 0.8  # of the memory available now, at most, as yolov5's check_cache_ram


def shrink(img: np.ndarray, max_side: int) -> np.ndarray:
    """``img`` resized (INTER_AREA) so its long side is at most ``max_side``; never enlarged."""
    h, w = img.shape[:2]
    r = max_side / max(h, w)
    if r >= 1:
        return img
    return cv2.resize(img, (max(1, round(w * r)), max(1, round(h * r))), interpolation=cv2.INTER_AREA)


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class ImageCache:
    """Decoded images by path (see the module docstring); ``get`` returns None for an image that
    is not cached (unreadable when filled), which the dataset then reads and reports itself."""

    def __init__(self, mode: str, max_side: int, root: str | Path | None = None):
        if mode not in MODES:
            raise ValueError(f"--cache {mode}: choose ram or disk")
        self.mode, self.max_side = mode, int(max_side)
        self.ram: dict[str, np.ndarray] = {}
        self.root = Path(root) if root is not None else next(
            (d / "images" for d in fallback_dirs() if writable_dir(d)), None)
        if mode == "disk" and self.root is None:
            raise ValueError("--cache disk: none of the cache folders is writable (set CSPDET_CACHE_DIR)")

    def npy_path(self, path: str) -> Path:
        key = hashlib.sha256(repr((stat_key(path), self.max_side)).encode()).hexdigest()[:24]
        return self.root / f"{Path(path).stem[:40]}-{key}.npy"

    def fill(self, paths: Sequence[str], progress: Callable[[int], object] | None = None) -> int:
        """Decode and store every image of ``paths`` -> bytes held (RAM) or written (disk). A RAM
        cache that would not fit in ``RAM_SHARE`` of the available memory is not filled (warning)."""
        if self.mode == "ram" and not self._fits(paths):
            return 0
        if self.mode == "disk":
            self.root.mkdir(parents=True, exist_ok=True)
        total = 0
        # cv2 decodes without the GIL: threads use every core for this one-off pass
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for nbytes in pool.map(self._store, paths):
                total += nbytes
                if progress is not None:
                    progress(1)
        return total

    def _fits(self, paths: Sequence[str]) -> bool:
        sample = [self._load(p) for p in paths[:: max(1, len(paths) // 30)][:30]]
        sizes = [img.nbytes for img in sample if img is not None]
        need, free = (np.mean(sizes) * len(paths) if sizes else 0), available_memory()
        if free is not None and need > RAM_SHARE * free:
            warnings.warn(f"--cache ram: the {len(paths)} images need about {need / 1e9:.1f} GB, more than "
                          f"{RAM_SHARE:.0%} of the {free / 1e9:.1f} GB available; not caching (try --cache disk)",
                          stacklevel=3)
            return False
        return True

    def _load(self, path: str) -> np.ndarray | None:
        try:
            return shrink(read_image(path), self.max_side)
        except ImageError:
            return None

    def _store(self, path: str) -> int:
        if self.mode == "disk" and self.npy_path(path).is_file():
            return self.npy_path(path).stat().st_size
        img = self._load(path)
        if img is None:
            return 0
        if self.mode == "ram":
            self.ram[str(path)] = img
            return img.nbytes
        buf = io.BytesIO()
        np.save(buf, img, allow_pickle=False)
        write_bytes(self.npy_path(path), buf.getvalue())  # atomic: a reader never sees half a file
        return buf.tell()

    def get(self, path: str) -> np.ndarray | None:
        """The cached image of ``path`` (BGR, long side <= max_side), or None."""
        if self.mode == "ram":
            return self.ram.get(str(path))
        try:
            return np.load(self.npy_path(path), allow_pickle=False)
        except (OSError, ValueError):
            return None
