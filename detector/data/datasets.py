"""Detection datasets: YOLO-layout folders or COCO JSON -> letterboxed/augmented training items.

An item is ``(image, labels, meta)``:

- ``image``: float32 tensor [3, H, W], RGB in 0..1, at the network input size (H, W);
- ``labels``: float32 tensor [K, 5] = (class, cx, cy, w, h) normalised to that input (0..1);
- ``meta``: an ImageMeta (path, image id, original shape, input shape, LetterboxInfo when the
  image was only letterboxed, i.e. for validation; ``error`` when the image could not be read).

An unreadable image is reported once, naming the file and the cause. When augmenting (training)
another image stands in for it; otherwise (validation) the item is a blank marked with
``meta.error``, which ``engine.validate`` leaves out of the predictions and the ground truth, so
no image's predictions are ever scored against another image.

Index with an int (the dataset's ``img_size``; augmentation seeded by (``seed``, index)) or with
an ItemKey (index, size, seed) as the loader's batch sampler does for multi-scale training and
reproducible augmentation.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..io.images import ImageError, read_image
from ..geometry.letterbox import PAD_VALUE, LetterboxInfo, as_hw, letterbox, letterbox_boxes
from .augment import (AugmentConfig, mosaic4, normalised_to_pixels, photometric_and_flips,
                      pixels_to_normalised, random_affine, resize_to_fit)
from .cache import candidate_paths, files_hash, load_cache, save_cache
from .coco import category_ids_for, image_ids
from .cocojson import load_coco
from .config import CocoSplit, DataConfig, load_data_config
from .labels import (ImageRecord, LabelWarning, dataset_images, emit_warnings, img2label_path, orphan_labels,
                     read_labels)


class ItemKey(NamedTuple):
    """What the batch sampler asks for: an index, the input size (h, w) and augmentation entropy."""

    index: int
    size: tuple[int, int]
    seed: tuple[int, ...]


@dataclass(frozen=True)
class ImageMeta:
    """Where an item came from. ``letterbox`` is set only when the image was letterboxed and
    nothing else (validation), so predictions map back with ``scale_boxes(boxes, letterbox)``."""

    path: str
    image_id: int
    orig_shape: tuple[int, int]
    shape: tuple[int, int]
    letterbox: LetterboxInfo | None
    index: int
    error: str | None = None


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """BGR uint8 [H, W, 3] -> float32 RGB [3, H, W] in 0..1."""
    chw = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))
    return torch.from_numpy(chw).float().div_(255)


class DetectionDataset(Dataset):
    """Images + labels -> (image [3, H, W], labels [K, 5], ImageMeta); see the module docstring."""

    def __init__(self, records: Sequence[ImageRecord], names: Sequence[str], *, img_size=640,
                 augment: bool = False, hyp: AugmentConfig | None = None,
                 category_ids: Sequence[int] | None = None, seed: int = 0,
                 annotations: str | Path | None = None):
        if not records:
            raise ValueError("DetectionDataset: no images")
        self.records = list(records)
        self.names = list(names)
        self.img_size = as_hw(img_size, "img_size")
        self.augment = augment
        self.hyp = hyp or AugmentConfig()
        self.category_ids = category_ids_for(self.names, category_ids)  # the one id rule (data/coco.py)
        # a COCO JSON split is scored against that file itself (crowd regions, its areas)
        self.annotations = Path(annotations) if annotations is not None else None
        self.seed = seed
        self._bad: dict[str, str] = {}  # path -> why it could not be read (reported once)
        self.cache = None  # an ImageCache (``cache_images``): images decoded once, maybe shrunk

    def cache_images(self, mode: str, progress: bool = True) -> int:
        """yolov5's ``--cache ram|disk`` (``data.image_cache``) for every image -> bytes cached."""
        from tqdm import tqdm

        from .image_cache import ImageCache

        cache = ImageCache(mode, max(self.img_size))
        bar = tqdm(total=len(self), desc=f"caching images ({mode})", unit="img", disable=not progress, leave=False)
        nbytes = cache.fill([r.path for r in self.records], bar.update)
        bar.close()
        self.cache = cache if nbytes else None
        return nbytes

    @property
    def nc(self) -> int:
        return len(self.names)

    @property
    def labels(self) -> list[np.ndarray]:
        """Per image [K, 5] (class, cx, cy, w, h) normalised to the original image."""
        return [r.labels for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def coco_items(self) -> list[dict]:
        """Ground truth as ``engine.evaluate.yolo_to_coco_gt`` reads it: per image ``image_id``,
        ``width``, ``height`` (original pixels), ``labels`` [K, 5] normalised, ``file_name``."""
        return [{"image_id": r.image_id, "width": r.shape[1], "height": r.shape[0], "labels": r.labels,
                 "file_name": os.path.basename(r.path)} for r in self.records]

    def read(self, index: int) -> tuple[int, np.ndarray | None]:
        """(index actually used, BGR image). An unreadable image is reported once; when
        augmenting the next readable one stands in, otherwise the image is None (see module doc)."""
        n = len(self.records)
        for step in range(n if self.augment else 1):
            j = (index + step) % n
            cached = self.cache.get(self.records[j].path) if self.cache is not None else None
            if cached is not None:
                return j, cached
            try:
                return j, read_image(self.records[j].path)
            except ImageError as e:
                if e.path not in self._bad:
                    self._bad[e.path] = e.reason
                    fate = "another image stands in" if self.augment else "left out of validation"
                    warnings.warn(f"{e.path}: unreadable image, skipped ({e.reason}); {fate}", LabelWarning)
        if not self.augment:
            return index, None
        raise ValueError(f"DetectionDataset: none of the {n} images can be read any more")

    def skipped_item(self, index: int, size: tuple[int, int]):
        """A blank item without labels whose meta carries the read error (validation only)."""
        rec = self.records[index]
        img = np.full((*size, 3), PAD_VALUE, np.uint8)
        why = self._bad.get(rec.path, "unreadable image")
        meta = ImageMeta(rec.path, rec.image_id, rec.shape, size, None, index, error=f"{rec.path}: {why}")
        return to_tensor(img), torch.zeros((0, 5)), meta

    def __getitem__(self, key: int | ItemKey):
        index = int(key.index if isinstance(key, ItemKey) else key)
        index = index + len(self) if index < 0 else index
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        if isinstance(key, ItemKey):
            size, seed = as_hw(key.size, "size"), key.seed
        else:
            size, seed = self.img_size, (self.seed, index)
        rng = np.random.default_rng(seed)
        if self.augment and rng.random() < self.hyp.mosaic:
            img, labels, index, shape0 = self.mosaic_item(index, size, rng)
            info = None
        else:
            index, img0 = self.read(index)
            if img0 is None:
                return self.skipped_item(index, size)
            img, info = letterbox(img0, size)
            boxes = normalised_to_pixels(self.records[index].labels, img0.shape[:2])
            labels = np.concatenate([boxes[:, :1], letterbox_boxes(boxes[:, 1:], info)], 1)
            shape0 = img0.shape[:2]
            if self.cache is not None and tuple(shape0) != tuple(self.records[index].shape):
                shape0 = self.records[index].shape  # a cached, shrunk copy: map to the original's pixels
                info = from_original(info, shape0)
            if self.augment:
                h = self.hyp
                img, labels = random_affine(img, labels, rng, degrees=h.degrees, translate=h.translate,
                                            scale=h.scale, shear=h.shear)
                info = None
        if self.augment:
            img, labels = photometric_and_flips(img, labels, rng, self.hyp)
        rec = self.records[index]
        meta = ImageMeta(rec.path, rec.image_id, tuple(shape0), size, info, index)
        return to_tensor(img), torch.from_numpy(pixels_to_normalised(labels, size)), meta

    def mosaic_item(self, index: int, size: tuple[int, int], rng: np.random.Generator):
        """This image and three random others as a mosaic: (image, pixel labels, index of the
        first tile's image, its original shape)."""
        tiles, used = [], []
        for j in [index, *rng.integers(0, len(self), 3)]:
            j, img = self.read(int(j))
            used.append((j, self.records[j].shape if self.cache is not None else img.shape[:2]))
            tiles.append(resize_to_fit(img, self.records[j].labels, size))
        img, labels = mosaic4(tiles, size, rng, self.hyp)
        return img, labels, *used[0]


def from_original(info: LetterboxInfo, shape0: tuple[int, int]) -> LetterboxInfo:
    """``info`` of a letterbox of a resized copy, as the letterbox of the ``shape0`` original."""
    (h1, w1), (h0, w0) = info.orig_shape, shape0
    return LetterboxInfo(ratio=(info.ratio[0] * w1 / w0, info.ratio[1] * h1 / h0), pad=info.pad,
                         orig_shape=(int(h0), int(w0)), shape=info.shape)


def scan_yolo(files: Sequence[str], label_files: Sequence[Path], nc: int) -> dict:
    """Read every image once (shape; unreadable ones are flagged) and parse every label file."""
    def one(pair):
        img_path, lbl_path = pair
        labels, problems = read_labels(lbl_path, nc)
        try:
            shape = list(read_image(img_path).shape[:2])
        except ImageError as e:
            shape = None
            problems.append(f"{e.path}: unreadable image, skipped ({e.reason})")
        return {"path": img_path, "shape": shape, "labels": labels.tolist()}, problems

    entries, problems = [], []
    # cv2 decodes without the GIL, so threads use every core for this one-off scan.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for entry, probs in pool.map(one, zip(files, label_files)):
            entries.append(entry)
            problems += probs
    return {"images": entries, "problems": problems}


def check_any_labels(records: Sequence[ImageRecord], source: str, where: Path, training: bool) -> None:
    """A split without a single label is a warning naming ``where`` (the labels folder or the
    annotations file) -- every image would count as background -- and for training an error."""
    if any(len(r.labels) for r in records):
        return
    if where.suffix.lower() == ".json":
        why = f"{where} has no usable annotations"
    elif not where.is_dir():
        why = f"no labels folder {where}"
    else:
        why = f"none of the {len(records)} images has a label in {where} (label files missing or empty)"
    if training:
        raise ValueError(f"{source}: {why}; training needs labels")
    warnings.warn(f"{source}: {why}; every image counts as background", LabelWarning, stacklevel=3)


def yolo_records(sources: Sequence[str | Path], nc: int, *, cache: bool = True,
                 cache_dir: str | Path | None = None, source: str = "dataset",
                 training: bool = False) -> list[ImageRecord]:
    """YOLO-layout image sources (folders, .txt lists, files) -> records, using the label cache.

    Label and image problems are warned about (file and line named) on every load, cached or not;
    so is a split without any label (an error when ``training``: see ``check_any_labels``).
    """
    files = dataset_images(sources, source)
    label_files = [img2label_path(f) for f in files]
    key = files_hash(files, label_files, extra={"nc": nc, "duplicates": "removed"})  # caches from before kept them
    labels_dir = Path(os.path.commonpath([str(p.parent) for p in label_files]))
    paths = candidate_paths(labels_dir, cache_dir, files)
    data = load_cache(paths, key) if cache else None
    if data is None:
        data = scan_yolo(files, label_files, nc)
        if cache:
            save_cache(paths, key, data)
    emit_warnings(data["problems"] + orphan_labels(sources, label_files))
    good = [e for e in data["images"] if e["shape"] is not None]
    if not good:
        raise FileNotFoundError(f"{source}: none of the {len(files)} images could be read")
    # Numeric stems are the image ids (COCO's own files: 000000000009.jpg is id 9, as yolov5
    # does); other files are numbered on from there (data/coco.py). Ints either way, as COCO
    # evaluation needs.
    ids = image_ids(Path(e["path"]).stem for e in good)
    records = [ImageRecord(e["path"], np.array(e["labels"], np.float32).reshape(-1, 5), i, tuple(e["shape"]))
               for e, i in zip(good, ids)]
    check_any_labels(records, source, labels_dir, training)
    return records


def build_dataset(data: DataConfig | str | Path, split: str = "train", *, img_size=640,
                  augment: bool | None = None, hyp: AugmentConfig | None = None, cache: bool = True,
                  cache_dir: str | Path | None = None, seed: int = 0) -> DetectionDataset:
    """A DetectionDataset for one split of a dataset YAML (path or DataConfig).

    ``augment`` defaults to True for ``train`` only. COCO-JSON splits keep the JSON's category
    ids in ``dataset.category_ids``, its image ids in ``meta.image_id`` and its path in
    ``dataset.annotations``; YOLO splits take ``data.coco.category_ids_for(names)``.
    """
    cfg = data if isinstance(data, DataConfig) else load_data_config(data)
    sources = cfg.split(split)
    where = f"{cfg.source} '{split}'"
    if isinstance(sources, CocoSplit):
        index = load_coco(sources.annotations, sources.images)
        names = cfg.names or index.names
        if len(names) != len(index.names):
            raise ValueError(f"{cfg.source}: {len(names)} names but {sources.annotations} has "
                             f"{len(index.names)} categories")
        records, category_ids, annotations = index.records, index.category_ids, sources.annotations
        check_any_labels(records, where, sources.annotations, split == "train")
    else:
        records = yolo_records(sources, len(cfg.names), cache=cache, cache_dir=cache_dir, source=where,
                               training=split == "train")
        names, category_ids, annotations = cfg.names, None, None
    return DetectionDataset(records, names, img_size=img_size, category_ids=category_ids, seed=seed,
                            annotations=annotations,
                            augment=(split == "train") if augment is None else augment, hyp=hyp)
