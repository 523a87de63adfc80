"""Batches for training and validation: collate, seeded samplers, multi-scale, DataLoader.

A batch is ``(images, targets, metas)``:

- ``images``: float32 [B, 3, H, W], RGB 0..1 (every image of a batch has the same H, W);
- ``targets``: float32 [M, 6] = (batch_index, class_id, cx, cy, w, h), boxes normalised to the
  network input (0..1); this is the contract with the loss;
- ``metas``: list of B ImageMeta.

Reproducibility: the batch sampler (in the main process) decides every batch's indices, input
size and per-item augmentation seed from (seed, epoch) alone, so the same seed gives the same
batches whatever the number of workers. Each ``iter(loader)`` starts the next epoch; call
``loader.set_epoch(e)`` to start from epoch ``e`` (e.g. when resuming).
"""
from __future__ import annotations

import math
import os
import random
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data.distributed import DistributedSampler

from ..geometry.letterbox import as_hw
from .datasets import DetectionDataset, ImageMeta, ItemKey
from .rect import rect_batches

SIZE_STREAM = 0x5CA1E  # keeps the batch-size draws apart from the items' augmentation streams


def collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor, ImageMeta]]
            ) -> tuple[torch.Tensor, torch.Tensor, list[ImageMeta]]:
    """Items (image [3, H, W], labels [K, 5], meta) -> (images [B, 3, H, W], targets [M, 6], metas)."""
    images, labels, metas = zip(*batch)
    shapes = sorted({tuple(im.shape) for im in images})
    if len(shapes) > 1:
        raise ValueError(f"collate: images of one batch differ in shape {shapes}")
    targets = [torch.cat([torch.full((len(lb), 1), float(i)), lb.float().reshape(-1, 5)], 1)
               for i, lb in enumerate(labels)]
    return torch.stack(images), torch.cat(targets, 0), list(metas)


class SeededSampler(Sampler[int]):
    """Indices 0..n-1, shuffled by (seed, epoch) when ``shuffle``; ``set_epoch`` as
    DistributedSampler has, so an epoch's order never depends on what ran before it."""

    def __init__(self, n: int, shuffle: bool = True, seed: int = 0):
        self.n, self.shuffle, self.seed, self.epoch = n, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def multi_scale_sizes(img_size, scale_range: tuple[float, float] = (0.5, 1.5),
                      stride: int = 32) -> list[tuple[int, int]]:
    """The (h, w) input sizes multi-scale training draws from: h a multiple of ``stride`` in
    ``scale_range`` x the base h, w scaled alike (rounded to the stride)."""
    h, w = as_hw(img_size, "img_size")
    lo, hi = max(1, math.ceil(scale_range[0] * h / stride)), math.floor(scale_range[1] * h / stride)
    if hi < lo:
        raise ValueError(f"multi-scale: no multiple of {stride} in {scale_range} x {h}")
    return [(k * stride, max(stride, round(w * k * stride / h / stride) * stride)) for k in range(lo, hi + 1)]


class DetectionBatchSampler(Sampler[list[ItemKey]]):
    """Groups a sampler's indices into batches of ItemKeys (index, size, seed).

    With ``multi_scale`` each batch gets a size drawn from ``multi_scale_sizes``; the draw
    depends only on (seed, epoch, batch number), so every rank of a distributed run (same
    seed) uses the same size for the same step.
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, *, img_size=640, drop_last: bool = False,
                 multi_scale: bool = False, scale_range: tuple[float, float] = (0.5, 1.5),
                 stride: int = 32, seed: int = 0):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last
        self.img_size = as_hw(img_size, "img_size")
        self.sizes = multi_scale_sizes(img_size, scale_range, stride) if multi_scale else [self.img_size]
        self.multi_scale, self.seed, self.epoch = multi_scale, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next ``iter()`` yields; later iterations count up from it."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[ItemKey]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        size_rng = np.random.default_rng([self.seed, epoch, SIZE_STREAM])
        batch: list[int] = []
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                yield self._keys(batch, size_rng, epoch)
                batch = []
        if batch and not self.drop_last:
            yield self._keys(batch, size_rng, epoch)

    def _keys(self, batch: list[int], size_rng: np.random.Generator, epoch: int) -> list[ItemKey]:
        size = self.sizes[int(size_rng.integers(len(self.sizes)))] if self.multi_scale else self.img_size
        return [ItemKey(i, size, (self.seed, epoch, i)) for i in batch]

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


class RectBatchSampler(Sampler[list[ItemKey]]):
    """yolov5's rectangular batches (``data.rect.rect_batches``): fixed groups of images of like
    aspect ratio, each at its own (h, w). With ``shuffle`` the order of the batches (not their
    content) changes by (seed, epoch)."""

    def __init__(self, shapes, batch_size: int, *, img_size: int, stride: int = 32, pad: float = 0.0,
                 shuffle: bool = False, seed: int = 0):
        self.batches, self.sizes = rect_batches(shapes, batch_size, img_size, stride, pad)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[ItemKey]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        order = np.arange(len(self.batches))
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(order)
        for b in order.tolist():
            yield [ItemKey(i, self.sizes[b], (self.seed, epoch, i)) for i in self.batches[b]]

    def __len__(self) -> int:
        return len(self.batches)


def seed_worker(worker_id: int) -> None:
    """Seed a worker's global RNGs from its torch seed (itself from the loader's generator), for
    any code that still uses them, and keep OpenCV single-threaded inside worker processes."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)
    cv2.setNumThreads(0)


class DetectionLoader(DataLoader):
    """A DataLoader over a DetectionBatchSampler, with ``set_epoch``."""

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)


def create_dataloader(dataset: DetectionDataset, batch_size: int = 16, *, shuffle: bool | None = None,
                      workers: int = 0, seed: int = 0, multi_scale: bool = False,
                      scale_range: tuple[float, float] = (0.5, 1.5), stride: int = 32,
                      drop_last: bool = False, sampler: Sampler | None = None, distributed: bool = False,
                      pin_memory: bool = False, rect: bool = False, pad: float = 0.0) -> DetectionLoader:
    """A loader yielding ``(images [B, 3, H, W], targets [M, 6], metas)`` (see ``collate``).

    ``shuffle`` defaults to ``dataset.augment``. ``distributed=True`` shards with a
    DistributedSampler over the default process group; or pass any ``sampler`` (one with
    ``set_epoch`` gets the epoch). ``multi_scale`` draws a size per batch (``multi_scale_sizes``).
    ``rect``: batches of like aspect ratio at their own shape (``RectBatchSampler``; ``pad``
    strides added, yolov5 validates with 0.5), one process only.
    """
    if sampler is not None and distributed:
        raise ValueError("create_dataloader: give either sampler or distributed=True, not both")
    if rect and (distributed or multi_scale or sampler is not None):
        raise ValueError("rectangular batches (--rect) run in one process, without --multi-scale or a sampler")
    shuffle = dataset.augment if shuffle is None else shuffle
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed)
    elif sampler is None:
        sampler = SeededSampler(len(dataset), shuffle=shuffle, seed=seed)
    if rect:
        batch_sampler = RectBatchSampler([r.shape for r in dataset.records], batch_size,
                                         img_size=max(dataset.img_size), stride=stride, pad=pad, shuffle=shuffle,
                                         seed=seed)
    else:
        batch_sampler = DetectionBatchSampler(sampler, batch_size, img_size=dataset.img_size, seed=seed,
                                              drop_last=drop_last, multi_scale=multi_scale,
                                              scale_range=scale_range, stride=stride)
    workers = max(0, min(int(workers), os.cpu_count() or 1))
    return DetectionLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate, num_workers=workers,
                           worker_init_fn=seed_worker if workers else None, pin_memory=pin_memory,
                           generator=torch.Generator().manual_seed(seed), persistent_workers=workers > 0)
