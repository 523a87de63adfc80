"""A JSON cache of parsed YOLO labels, keyed by a hash of every label file's bytes (and path)
and every image's path, size and mtime.

Label files are hashed by content because an edit can keep both size and mtime (a class id
changed in place by a tool that restores the mtime, or two writes within the file system's
clock tick), and a stale cache would then train on labels that are no longer in the files.
Images keep the cheap stat key: decoding them is what the cache saves, and their edits change
the size or the mtime in practice.

The cache is written beside the labels folder (``labels.<digest>.cache.json`` for ``.../labels``;
the digest names the image list), or in ``cache_dir`` when one is given. When that folder is
read-only (a shared dataset) it falls back to ``$CSPDET_CACHE_DIR``, then
``$XDG_CACHE_HOME/cspdet`` (``~/.cache/cspdet``), then the system temp folder; if none is
writable the dataset loads without a cache. Image checks (readable? shape?) are cached too.
JSON, never pickle: a cache file is data, so a tampered one cannot run code.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

from ..io.files import write_bytes

CACHE_VERSION = 3  # 2: label files keyed by content; 3: polygon lines become boxes
SUFFIX = ".cache.json"


def stat_key(path: str | Path) -> list:
    """(path, size, mtime_ns), or (path, -1, -1) for a missing file, so creating one counts."""
    try:
        st = os.stat(path)
        return [str(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), -1, -1]


def content_key(path: str | Path) -> list:
    """(path, sha256 of the bytes), or (path, None) for a missing or unreadable file."""
    try:
        return [str(path), hashlib.sha256(Path(path).read_bytes()).hexdigest()]
    except OSError:
        return [str(path), None]


def files_hash(images: Sequence[str | Path], labels: Sequence[str | Path], extra: Any = None) -> str:
    """sha256 over the images' (path, size, mtime), the label files' (path, content hash) and
    any JSON-able ``extra`` (e.g. nc)."""
    h = hashlib.sha256(json.dumps([CACHE_VERSION, extra]).encode())
    for key in [*map(stat_key, images), *map(content_key, labels)]:
        h.update(json.dumps(key).encode())
    return h.hexdigest()


def fallback_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("CSPDET_CACHE_DIR"):
        dirs.append(Path(os.environ["CSPDET_CACHE_DIR"]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    dirs.append((Path(xdg) if xdg else Path.home() / ".cache") / "cspdet")
    dirs.append(Path(tempfile.gettempdir()) / "cspdet")
    return dirs


def candidate_paths(labels_dir: Path, cache_dir: str | Path | None, files: Sequence[str]) -> list[Path]:
    """Where to look for / write the cache of ``files`` (an image list), best first.

    The name carries a digest of the image list, so train and val lists sharing one labels
    folder keep a cache each instead of overwriting each other's.
    """
    tag = hashlib.sha256("\n".join(files).encode()).hexdigest()[:10]
    local = labels_dir.with_name(f"{labels_dir.name}.{tag}{SUFFIX}")
    # The folder name alone would collide between datasets in a shared cache dir: add its path.
    where = hashlib.sha256(str(labels_dir.resolve()).encode()).hexdigest()[:10]
    shared_name = f"{labels_dir.name}-{where}.{tag}{SUFFIX}"
    if cache_dir is not None:
        return [Path(cache_dir) / shared_name]
    fallback = [d / shared_name for d in fallback_dirs()]
    return ([local] if local.parent.is_dir() else []) + fallback  # never create a labels folder


def writable_dir(path: Path) -> bool:
    """Whether files may be written in ``path`` (or in the folder that would hold it).

    Folders whose mode grants nobody write access count as read-only even for root, who could
    write there anyway: a dataset someone marked r-x must not collect cache files.
    """
    path = Path(path)
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return path.is_dir() and bool(mode & 0o222) and os.access(path, os.W_OK)


def load_cache(paths: Sequence[Path], key: str) -> dict | None:
    """The first cache among ``paths`` whose hash equals ``key`` (stale or corrupt ones are ignored)."""
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION and data.get("hash") == key:
            data["cache_path"] = str(path)
            return data
    return None


def save_cache(paths: Sequence[Path], key: str, payload: dict) -> Path | None:
    """Write ``payload`` to the first writable path (atomically); None if none could be written."""
    text = json.dumps({"version": CACHE_VERSION, "hash": key, **payload})
    for path in paths:
        if not writable_dir(path.parent):
            continue
        try:
            write_bytes(path, text.encode())  # readers never see a half-written file
            return path
        except OSError:
            continue
    warnings.warn(f"label cache not written: none of {[str(p.parent) for p in paths]} is writable",
                  stacklevel=2)
    return None
