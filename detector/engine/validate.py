"""Validation: the one loop that scores a model on a dataset split with pycocotools.

``validate`` serves ``cspdet val`` (any runtime backend, original images) and training (a torch
model on the letterboxed loader) alike: each hands it batches and a function that turns a batch
into COCO detections. Items that could not be read are left out of the predictions and the
ground truth, so no image's predictions are ever scored against another image.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
from tqdm import tqdm

from ..geometry.decode import YOLODecoder
from ..geometry.nms import postprocess
from ..io.text import read_text
from .evaluate import (coco_eval, coco_stats, detections_to_coco, evaluable_gt, format_table, one_category, pr_curve,
                       yolo_to_coco_gt)
from .metrics import PRCurves
from .val_loss import ValLoss

# A batch is (inputs, metas): inputs indexable per item (a tensor [B, ...] or a list), metas one
# per item with ``image_id`` and ``error`` (None when the image was read). A predict function
# takes the readable items' (inputs, metas) and returns their COCO result dicts.
Batch = tuple[object, Sequence]
Predict = Callable[[object, Sequence], list[dict]]


def _take(inputs, keep: list[int]):
    return inputs[keep] if isinstance(inputs, torch.Tensor) else [inputs[i] for i in keep]


def predict_batches(predict: Predict, batches: Iterable[Batch], *, skipped: set[int] | None = None,
                    desc: str = "val", total: int | None = None, leave: bool = False) -> list[dict]:
    """COCO results-format detections of ``predict`` over ``batches``; the ids of unreadable
    items (``meta.error``) are not run and are added to ``skipped``."""
    results: list[dict] = []
    for inputs, metas in tqdm(batches, desc=desc, total=total, leave=leave, unit="batch"):
        keep = [i for i, m in enumerate(metas) if m.error is None]
        if skipped is not None:
            skipped.update(m.image_id for m in metas if m.error is not None)
        if len(keep) < len(metas):
            inputs, metas = _take(inputs, keep), [metas[i] for i in keep]
        if metas:
            results += predict(inputs, metas)
    return results


def ground_truth(ds, skipped: set[int] = frozenset(), *, single_cls: bool = False) -> dict:
    """COCO ground truth of a DetectionDataset without the images in ``skipped`` (unreadable): a
    COCO JSON split's own file, as COCOeval reads it (crowd regions, the file's areas; only the
    images whose files exist), else built from the YOLO labels. ``single_cls``: one category."""
    keep = {r.image_id for r in ds.records} - set(skipped)
    if ds.annotations is not None:
        gt = evaluable_gt(json.loads(read_text(ds.annotations)), keep, str(ds.annotations))
    else:
        items = [it for it in ds.coco_items() if it["image_id"] in keep]
        gt = yolo_to_coco_gt(items, category_ids=ds.category_ids, names=ds.names)
    return one_category(gt) if single_cls else gt


@dataclass
class Validation:
    """What one validation found: ``metrics`` (COCOeval's 12 stats, plus ``P`` and ``R``, the
    mean precision and recall over classes at the score of best mean F1, as yolov5 reports),
    the COCO ``detections``, the ground truth ``gt`` they were scored against, the summarised
    COCOeval ``evaluator`` and the PR ``curves`` at IoU 0.5."""

    metrics: dict[str, float]
    detections: list[dict]
    gt: dict
    evaluator: object
    curves: PRCurves


def validate(predict: Predict, batches: Iterable[Batch], ds, *, verbose: bool = False, table: bool = False,
             pr_plot=None, single_cls: bool = False, **progress) -> Validation:
    """Score ``predict`` over ``batches`` of ``ds`` (see ``predict_batches``; ``progress``: its
    desc/total/leave) with pycocotools, against ``ground_truth(ds)``. ``pr_plot``: a path for
    the precision-recall curves; ``single_cls``: every class scored as one (``predict`` must
    then give category 0)."""
    skipped: set[int] = set()
    dets = predict_batches(predict, batches, skipped=skipped, **progress)
    gt = ground_truth(ds, skipped, single_cls=single_cls)
    evaluator = coco_eval(gt, dets, verbose=verbose)
    metrics = coco_stats(evaluator)
    if table:
        print(format_table(metrics))
    curves = pr_curve(gt, dets)
    _, p, r, _ = curves.at_best_f1()
    metrics.update(P=float(p.mean()) if len(p) else 0.0, R=float(r.mean()) if len(r) else 0.0)
    if pr_plot:
        from .plots import plot_pr_curve

        plot_pr_curve(curves, pr_plot, names={c["id"]: c["name"] for c in gt["categories"]})
    return Validation(metrics, dets, gt, evaluator, curves)


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def torch_predict(model: torch.nn.Module, category_ids: Sequence[int], *, conf_thres: float = 0.001,
                  iou_thres: float = 0.6, max_det: int = 300, device: str | torch.device = "cpu",
                  on_maps: Callable[[list, Sequence], None] | None = None) -> Predict:
    """The predict function of a torch model on letterboxed batches (images [B, 3, H, W], ImageMetas).
    ``on_maps(maps, metas)`` sees each batch's raw maps before decoding (training's validation loss)."""
    decoder = YOLODecoder.from_model(model).to(device)

    @torch.no_grad()
    def predict(images: torch.Tensor, metas) -> list[dict]:
        maps = model(images.to(device))
        if on_maps is not None:
            on_maps(maps, metas)
        pred = decoder(maps).float().cpu().numpy()
        dets = postprocess(pred, conf_thres=conf_thres, iou_thres=iou_thres, max_det=max_det)
        infos = [m.letterbox for m in metas]
        if any(i is None for i in infos):
            raise ValueError("validation images must be letterboxed only (build the split with augment=False)")
        return detections_to_coco(dets, [m.image_id for m in metas], category_ids=category_ids, infos=infos)
    return predict


def _loader_batches(loader) -> Iterable[Batch]:
    return ((images, metas) for images, _, metas in loader)


def predict_dataset(model: torch.nn.Module, loader, *, device: str | torch.device = "cpu", desc: str = "val",
                    skipped: set[int] | None = None, **nms) -> list[dict]:
    """COCO results-format detections (original-image pixels) of a torch model for every image
    of ``loader``; unreadable images' ids go to ``skipped`` (see ``predict_batches``)."""
    with _eval_mode(model):
        predict = torch_predict(model, loader.dataset.category_ids, device=device, **nms)
        return predict_batches(predict, _loader_batches(loader), skipped=skipped, desc=desc, total=len(loader))


def evaluate_model(model: torch.nn.Module, loader, *, device="cpu", verbose: bool = False,
                   table: bool = False, pr_plot: str | None = None, loss_fn=None, **nms) -> dict:
    """``validate`` a torch model on ``loader``'s (letterboxed) dataset -> its metrics; with a
    training ``loss_fn`` also the mean ``box_loss``, ``obj_loss``, ``cls_loss`` over its batches."""
    meter = ValLoss(loss_fn) if loss_fn is not None else None
    with _eval_mode(model):
        predict = torch_predict(model, loader.dataset.category_ids, device=device, on_maps=meter, **nms)
        batches = meter.batches(loader) if meter is not None else _loader_batches(loader)
        metrics = validate(predict, batches, loader.dataset, verbose=verbose, table=table, pr_plot=pr_plot,
                           total=len(loader)).metrics
    return {**metrics, **meter.means()} if meter is not None else metrics
