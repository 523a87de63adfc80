"""Validation: the one loop that scores a model on a dataset split with pycocotools.

``validate`` serves ``cspdet val`` (any runtime backend, original images) and training (a torch
model on the letterboxed loader) alike: each hands it batches and a function that turns a batch
into COCO detections. Items that could not be read are left out of the predictions and the
ground truth, so no image's predictions are ever scored against another image.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Sequence

import torch
from tqdm import tqdm

from ..geometry.decode import YOLODecoder
from ..geometry.nms import postprocess
from .evaluate import coco_evaluate, detections_to_coco, pr_curve, yolo_to_coco_gt
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


def ground_truth(ds, skipped: set[int] = frozenset()) -> dict:
    """COCO ground truth of a DetectionDataset, without the images in ``skipped`` (unreadable)."""
    items = [it for it in ds.coco_items() if it["image_id"] not in skipped]
    return yolo_to_coco_gt(items, category_ids=ds.category_ids, names=ds.names)


def validate(predict: Predict, batches: Iterable[Batch], ds, *, verbose: bool = False, table: bool = False,
             pr_plot=None, best_f1: bool = False, **progress) -> tuple[dict, list[dict]]:
    """({AP, AP50, AP75, APs, APm, APl, ...}, detections) of ``predict`` over ``batches`` of
    ``ds`` (see ``predict_batches``; ``progress``: its desc/total/leave). YOLO-format labels
    become COCO ground truth in memory; COCO-JSON sets keep their ids. ``pr_plot``: a path for
    the precision-recall curves. ``best_f1``: add ``precision`` and ``recall``, the means over
    classes at the score threshold of the best mean F1 (yolov5's P and R)."""
    skipped: set[int] = set()
    dets = predict_batches(predict, batches, skipped=skipped, **progress)
    gt = ground_truth(ds, skipped)
    metrics = coco_evaluate(gt, dets, verbose=verbose, table=table)
    curves = pr_curve(gt, dets) if pr_plot or best_f1 else None
    if pr_plot:
        from .metrics import plot_pr_curve

        plot_pr_curve(curves, pr_plot, names=dict(zip(ds.category_ids, ds.names)))
    if best_f1:
        _, p, r, _ = curves.at_best_f1()
        metrics.update(precision=float(p.mean()) if len(p) else 0.0, recall=float(r.mean()) if len(r) else 0.0)
    return metrics, dets


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
                   table: bool = False, pr_plot: str | None = None, loss_fn=None, best_f1: bool = False,
                   **nms) -> dict:
    """``validate`` a torch model on ``loader``'s (letterboxed) dataset -> COCO metrics; with a
    training ``loss_fn`` also the mean ``box_loss``, ``obj_loss``, ``cls_loss`` over its batches."""
    meter = ValLoss(loss_fn) if loss_fn is not None else None
    with _eval_mode(model):
        predict = torch_predict(model, loader.dataset.category_ids, device=device, on_maps=meter, **nms)
        batches = meter.batches(loader) if meter is not None else _loader_batches(loader)
        metrics = validate(predict, batches, loader.dataset, verbose=verbose, table=table, pr_plot=pr_plot,
                           best_f1=best_f1, total=len(loader))[0]
    return {**metrics, **meter.means()} if meter is not None else metrics
