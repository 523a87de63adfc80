"""Dataset YAML -> a typed DataConfig (yolov5's data YAML layout, plus COCO JSON splits).

Two split forms are accepted::

    path: ../datasets/coco128          # optional root; relative to this YAML's folder
    train: images/train2017            # YOLO layout: a folder, a .txt list of images, or a list of those
    val: [images/val2017, extra.txt]
    names: [person, bicycle, ...]      # or {0: person, 1: bicycle, ...}; or nc: 80 alone

    train: {images: images/train2017, annotations: annotations/instances_train2017.json}  # COCO JSON

Relative paths resolve against ``path`` (itself against the YAML's folder), or the YAML's folder
when there is no ``path``; a ``../x`` that does not exist there but ``x`` does is ``x``, as in
yolov5 (Roboflow exports sit in the dataset folder and say ``train: ../train/images``).
``download`` and ``roboflow`` (what yolov5's and Roboflow's YAMLs carry besides) are accepted and
ignored: nothing is ever downloaded. Any other top-level key is named in one warning and ignored,
so an export with extra metadata still loads; keys inside a COCO split are errors.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from ..io.text import load_yaml
from ..limits import MAX_CLASSES, check_cap

TOP_KEYS = ("path", "train", "val", "test", "names", "nc", "download", "roboflow")
SPLITS = ("train", "val", "test")
COCO_KEYS = ("images", "annotations")


@dataclass(frozen=True)
class CocoSplit:
    """A COCO-JSON split: an image folder and an instances file."""

    images: Path
    annotations: Path


Split = Union[list[Path], CocoSplit]


@dataclass
class DataConfig:
    """A parsed dataset YAML. ``names`` may be None for COCO splits (taken from the JSON)."""

    source: Path
    root: Path
    names: list[str] | None
    train: Split | None = None
    val: Split | None = None
    test: Split | None = None

    @property
    def nc(self) -> int | None:
        return None if self.names is None else len(self.names)

    def split(self, name: str) -> Split:
        """The sources of one split; a one-line error when the YAML does not define it."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{self.source}: no '{name}' split defined")
        return value


def parse_names(names: Any, nc: Any, source: str) -> list[str] | None:
    """``names`` as a list or {id: name} mapping (ids 0..n-1), checked against ``nc``."""
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc <= 0):
        raise ValueError(f"{source}: 'nc' must be a positive integer, got {nc!r}")
    if nc is not None:
        check_cap(nc, MAX_CLASSES, f"{source}: nc")  # before a name is made for each class
    if names is None:
        return None if nc is None else [f"class{i}" for i in range(nc)]
    if isinstance(names, dict):
        ids = sorted(names) if all(isinstance(k, int) for k in names) else None
        if ids != list(range(len(names))):
            raise ValueError(f"{source}: 'names' mapping keys must be the integers 0..{len(names) - 1}, "
                             f"got {list(names)}")
        names = [names[i] for i in ids]
    if not isinstance(names, list) or not names:
        raise ValueError(f"{source}: 'names' must be a non-empty list or {{id: name}} mapping")
    check_cap(len(names), MAX_CLASSES, f"{source}: len(names)")
    names = [str(n) for n in names]
    if nc is not None and nc != len(names):
        raise ValueError(f"{source}: nc={nc} but {len(names)} names given")
    return names


def parse_split(key: str, value: Any, root: Path, source: str) -> Split | None:
    """One split value -> a list of absolute paths, or a CocoSplit."""
    if value is None:
        return None
    if isinstance(value, dict):
        for k in value:
            if k not in COCO_KEYS:
                raise ValueError(f"{source}: unknown key '{key}.{k}' (allowed: {', '.join(COCO_KEYS)})")
        missing = [k for k in COCO_KEYS if k not in value]
        if missing:
            raise ValueError(f"{source}: '{key}' needs both 'images' and 'annotations' (missing {missing[0]!r})")
        return CocoSplit(root / str(value["images"]), root / str(value["annotations"]))
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ValueError(f"{source}: '{key}' must be a path, a list of paths, or "
                         f"{{images: DIR, annotations: FILE}}, got {value!r}")
    return [resolve_item(root, v) for v in items]


def resolve_item(root: Path, item: str) -> Path:
    """``root / item`` (an absolute item replaces root, as pathlib does), or ``root / x`` for an
    ``item`` ``../x`` that does not exist while ``x`` does (yolov5's fallback for Roboflow exports)."""
    path = root / item
    if item.startswith("../") and not path.exists() and (root / item[3:]).exists():
        return root / item[3:]
    return path


def data_config_from_dict(data: Any, source: Path) -> DataConfig:
    """Validate a parsed YAML mapping; ``source`` is the YAML path (errors and relative paths)."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a dataset YAML must be a mapping, got {type(data).__name__}")
    unknown = [str(k) for k in data if k not in TOP_KEYS]
    if unknown:
        warnings.warn(f"{source}: ignoring unknown key(s) {', '.join(unknown)} (known: {', '.join(TOP_KEYS)})",
                      UserWarning, stacklevel=3)
    base = Path(source).resolve().parent
    root = base / str(data["path"]) if data.get("path") else base
    splits = {k: parse_split(k, data.get(k), root, str(source)) for k in SPLITS}
    if not any(splits.values()):
        raise ValueError(f"{source}: defines none of {', '.join(SPLITS)}")
    names = parse_names(data.get("names"), data.get("nc"), str(source))
    if names is None and any(isinstance(s, list) for s in splits.values()):
        raise ValueError(f"{source}: YOLO-layout splits need 'names' or 'nc'")
    return DataConfig(source=Path(source), root=root, names=names, **splits)


def load_data_config(path: str | Path) -> DataConfig:
    """Read a dataset YAML (safe loader, no aliases) into a DataConfig."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset YAML '{path}' not found")
    return data_config_from_dict(load_yaml(path), path)
