"""The training loss on validation batches (yolov5's ``val/box_loss``, ``val/obj_loss``, ``val/cls_loss``).

It is computed from the raw maps the validation pass makes anyway, so the model runs once per batch.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import torch

LOSS_NAMES = ("box_loss", "obj_loss", "cls_loss")


class ValLoss:
    """``batches(loader)`` yields a loader's (images, metas) and remembers each batch's targets;
    calling the object with that batch's raw maps and readable metas (``torch_predict``'s
    ``on_maps``) adds its (box, obj, cls) terms; ``means()`` averages them over batches, as
    yolov5's val.py does."""

    def __init__(self, loss_fn: Callable):
        self.loss_fn, self.total, self.count = loss_fn, torch.zeros(3), 0
        self.targets, self.metas = torch.zeros((0, 6)), []

    def batches(self, loader: Iterable) -> Iterator[tuple[torch.Tensor, list]]:
        for images, targets, metas in loader:
            self.targets, self.metas = targets, metas
            yield images, metas

    def __call__(self, maps: Sequence[torch.Tensor], metas: Sequence) -> None:
        """maps: raw [b, A * (5 + nc), H_l, W_l] per level for the b readable items of the batch."""
        targets = self.targets
        if len(metas) < len(self.metas):  # unreadable items left the batch: renumber the others' targets
            slot = torch.full((len(self.metas),), -1.0)
            keep = [i for i, m in enumerate(self.metas) if m.error is None]
            slot[keep] = torch.arange(len(keep), dtype=torch.float32)
            targets = targets[slot[targets[:, 0].long()] >= 0].clone()
            targets[:, 0] = slot[targets[:, 0].long()]
        _, items = self.loss_fn([m.float() for m in maps], targets.to(maps[0].device))
        self.total += items.detach().float().cpu()
        self.count += 1

    def means(self) -> dict[str, float]:
        """{box_loss, obj_loss, cls_loss}: the mean gained terms over the batches seen."""
        return dict(zip(LOSS_NAMES, (self.total / max(self.count, 1)).tolist()))
