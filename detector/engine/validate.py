"""Validation: a model over a letterboxed dataset, scored with pycocotools."""
from __future__ import annotations

import torch
from tqdm import tqdm

from ..geometry.decode import YOLODecoder
from ..geometry.nms import postprocess
from .evaluate import coco_evaluate, detections_to_coco, pr_curve, yolo_to_coco_gt


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, loader, *, conf_thres: float = 0.001, iou_thres: float = 0.6,
                    max_det: int = 300, device: str | torch.device = "cpu", desc: str = "val",
                    skipped: set[int] | None = None) -> list[dict]:
    """COCO results-format detections (original-image pixels) for every image of ``loader``.

    Items the dataset could not read (``meta.error``) are not run; their image ids are added to
    ``skipped``, so the caller can leave them out of the ground truth too."""
    was_training = model.training
    model.eval()
    decoder = YOLODecoder.from_model(model).to(device)
    results: list[dict] = []
    try:
        for images, _, metas in tqdm(loader, desc=desc, leave=False, unit="batch"):
            keep = [i for i, m in enumerate(metas) if m.error is None]
            if skipped is not None:
                skipped.update(m.image_id for m in metas if m.error is not None)
            if len(keep) < len(metas):
                images, metas = images[keep], [metas[i] for i in keep]
            if not metas:
                continue
            pred = decoder(model(images.to(device))).float().cpu().numpy()
            dets = postprocess(pred, conf_thres=conf_thres, iou_thres=iou_thres, max_det=max_det)
            infos = [m.letterbox for m in metas]
            if any(i is None for i in infos):
                raise ValueError("validation images must be letterboxed only (build the split with augment=False)")
            results += detections_to_coco(dets, [m.image_id for m in metas],
                                          category_ids=loader.dataset.category_ids, infos=infos)
    finally:
        model.train(was_training)
    return results


def ground_truth(ds, skipped: set[int] = frozenset()) -> dict:
    """COCO ground truth of a DetectionDataset, without the images in ``skipped`` (unreadable)."""
    items = [it for it in ds.coco_items() if it["image_id"] not in skipped]
    return yolo_to_coco_gt(items, category_ids=ds.category_ids, names=ds.names)


def evaluate_model(model: torch.nn.Module, loader, *, device="cpu", verbose: bool = False,
                   table: bool = False, pr_plot: str | None = None, **nms) -> dict:
    """{AP, AP50, AP75, APs, APm, APl, ...} of ``model`` on ``loader``'s dataset (COCO metrics).

    YOLO-format labels become COCO ground truth in memory; COCO-JSON sets keep their ids."""
    ds = loader.dataset
    skipped: set[int] = set()
    dets = predict_dataset(model, loader, device=device, skipped=skipped, **nms)
    gt = ground_truth(ds, skipped)
    metrics = coco_evaluate(gt, dets, verbose=verbose, table=table)
    if pr_plot:
        from .metrics import plot_pr_curve

        plot_pr_curve(pr_curve(gt, dets), pr_plot, names=dict(zip(ds.category_ids, ds.names)))
    return metrics
