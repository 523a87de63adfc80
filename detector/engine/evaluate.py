"""COCO-style evaluation for YOLO-format and COCO-JSON sets alike, through pycocotools.

Both kinds of set meet as one in-memory COCO ground-truth dict: ``yolo_to_coco_gt`` builds it
from YOLO labels, a COCO JSON already is one. Detections are COCO result dicts
(``image_id``, ``category_id``, ``bbox`` [x, y, w, h] in original-image pixels, ``score``);
``detections_to_coco`` makes them from ``postprocess`` output.

A YOLO item is a mapping with ``image_id`` (int), ``width`` and ``height`` (original pixels),
``labels`` [K, 5] = (class, cx, cy, w, h) normalised to the original image, and optionally
``file_name``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..data.coco import category_ids_for
from ..data.cocojson import is_number, unique_annotation_ids, warn_renumbered
from ..geometry.boxes import ltwh2xyxy
from .metrics import PRCurves, ap_per_class, match_detections

AP_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
AR_KEYS = ("AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def read_yolo_labels(path: str | os.PathLike) -> np.ndarray:
    """A YOLO label file (one ``class cx cy w h`` line per box) -> [K, 5] float64; a missing or
    empty file is an image without objects."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return np.zeros((0, 5))
    rows = np.loadtxt(path, ndmin=2)
    if rows.shape[1] != 5:
        raise ValueError(f"read_yolo_labels: {path} has {rows.shape[1]} columns per line, expected 5")
    return rows


def yolo_to_coco_gt(items: Iterable[Mapping[str, Any]], *, category_ids: Sequence[int] | None = None,
                    names: Sequence[str] | None = None) -> dict:
    """YOLO items (see the module doc) -> a COCO ground-truth dict {images, annotations, categories}.

    Class index i becomes category id ``category_ids[i]`` (default: ``category_ids_for(names)``,
    or i without names) named ``names[i]`` (default str(i)); bbox is [x, y, w, h] in original
    pixels, area w * h, iscrowd 0.
    """
    if category_ids is None and names is not None:
        category_ids = category_ids_for(names)
    images, annotations, max_cls = [], [], -1
    for item in items:
        image_id, width, height = item["image_id"], item["width"], item["height"]
        if isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer)):
            raise ValueError(f"yolo_to_coco_gt: image_id must be an int, got {image_id!r}")
        labels = np.asarray(item.get("labels", np.zeros((0, 5))), np.float64).reshape(-1, 5)
        images.append({"id": int(image_id), "width": int(width), "height": int(height),
                       "file_name": str(item.get("file_name", ""))})
        for cls, cx, cy, w, h in labels.tolist():
            if cls != int(cls) or cls < 0:
                raise ValueError(f"yolo_to_coco_gt: labels of image {image_id} hold class {cls}, not an index")
            max_cls = max(max_cls, int(cls))
            bw, bh = w * width, h * height
            annotations.append({"id": len(annotations) + 1, "image_id": int(image_id), "iscrowd": 0,
                                "category_id": int(cls),  # the class index until all are checked
                                "bbox": [(cx - w / 2) * width, (cy - h / 2) * height, bw, bh], "area": bw * bh})
    if len({im["id"] for im in images}) != len(images):
        raise ValueError("yolo_to_coco_gt: items repeat an image_id")
    n = len(category_ids) if category_ids is not None else len(names) if names is not None else max_cls + 1
    if max_cls >= n:
        raise ValueError(f"yolo_to_coco_gt: labels hold class {max_cls}, but only {n} categories are mapped")
    ids = [int(i) for i in category_ids] if category_ids is not None else list(range(n))
    for ann in annotations:
        ann["category_id"] = ids[ann["category_id"]]
    categories = [{"id": ids[i], "name": names[i] if names is not None else str(i)} for i in range(n)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_gt_to_yolo(gt) -> list[dict]:
    """The inverse of ``yolo_to_coco_gt`` (crowd regions dropped): YOLO items whose class index
    is the category's position in ``category_ids_of(gt)``."""
    coco = load_coco(gt)
    index = {c: i for i, c in enumerate(category_ids_of(coco))}
    items = []
    for img in coco.dataset["images"]:
        w, h = img["width"], img["height"]
        anns = [a for a in coco.imgToAnns.get(img["id"], []) if not a.get("iscrowd", 0)]
        labels = [[index[a["category_id"]], (x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]
                  for a in anns for x, y, bw, bh in [a["bbox"]]]
        items.append({"image_id": img["id"], "width": w, "height": h, "file_name": img.get("file_name", ""),
                      "labels": np.asarray(labels, np.float64).reshape(-1, 5)})
    return items


def evaluable_gt(gt: dict, keep: set[int] | None = None, source: str = "ground truth") -> dict:
    """A COCO instances dict as COCOeval scores it, restricted to the images ``keep`` (default
    all). Annotations pycocotools cannot read (not an object, a bbox that is not 4 finite
    numbers) are left out and a missing ``area`` / ``iscrowd`` becomes w * h / 0, where
    pycocotools would stop with a KeyError; everything else (crowd regions, the file's areas)
    stays as it is, so a file pycocotools can score scores the same. Annotation ids that repeat
    are renumbered (``data.cocojson.unique_annotation_ids``; the dataset load warned of it). Copied
    only when changed."""
    images = [im for im in gt["images"] if keep is None or im["id"] in keep]
    ids = {im["id"] for im in images}
    anns, changed = [], len(images) != len(gt["images"])
    for ann in gt.get("annotations", []):
        if not (isinstance(ann, dict) and finite_box(ann.get("bbox")) and is_number(ann.get("image_id"))
                and ann["image_id"] in ids):
            changed = True
            continue
        if "area" not in ann or "iscrowd" not in ann:
            w, h = ann["bbox"][2:]
            ann, changed = {"area": w * h, "iscrowd": 0, **ann}, True
        anns.append(ann)
    anns, shared = unique_annotation_ids(anns, source)
    changed = changed or bool(shared)
    return {**gt, "images": images, "annotations": anns} if changed else gt


def finite_box(box) -> bool:
    return isinstance(box, list) and len(box) == 4 and all(is_number(v) and np.isfinite(v) for v in box)


def one_category(gt: dict, name: str = "item") -> dict:
    """``gt`` with every annotation in one category, id 0 (``--single-cls``)."""
    return {**gt, "categories": [{"id": 0, "name": name}],
            "annotations": [dict(a, category_id=0) for a in gt["annotations"]]}


def category_ids_of(gt) -> list[int]:
    """Category ids sorted ascending: entry i is the id of class i (Darknet's order for COCO's 80)."""
    return sorted(load_coco(gt).getCatIds())


def load_coco(gt):
    """A COCO ground-truth dict, a path to a COCO JSON, or a ``pycocotools.coco.COCO`` -> COCO, quietly."""
    from pycocotools.coco import COCO

    if isinstance(gt, COCO):
        return gt
    gt_path = None
    if isinstance(gt, (str, os.PathLike)):
        gt_path = gt
        with open(gt) as f:
            gt = json.load(f)
    if not isinstance(gt, Mapping) or "images" not in gt or "categories" not in gt:
        raise ValueError("gt must be a COCO dict with 'images' and 'categories', a path to one, or a COCO object")
    source = str(gt_path) if gt_path else "ground truth"
    anns, shared = unique_annotation_ids(list(gt.get("annotations", [])), source)
    if shared:
        warn_renumbered(source, shared, len(anns))
    coco = COCO()
    coco.dataset = {**gt, "annotations": anns}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def detections_to_coco(detections: Sequence, image_ids: Sequence[int], *,
                       category_ids: Sequence[int] | None = None, infos: Sequence | None = None) -> list[dict]:
    """Per-image ``Detections`` (boxes [K, 4] xyxy, scores [K], class_ids [K]) -> COCO result dicts.

    With ``infos`` (one LetterboxInfo per image) boxes are mapped from the letterboxed input back
    to original pixels; otherwise they must already be in original pixels. Class i becomes
    ``category_ids[i]`` (default i, as ``data.coco.category_ids_for`` numbers other classes).
    """
    from ..geometry.letterbox import scale_boxes

    if len(detections) != len(image_ids) or (infos is not None and len(infos) != len(image_ids)):
        raise ValueError(f"detections_to_coco: {len(detections)} detections, {len(image_ids)} image_ids"
                         + ("" if infos is None else f", {len(infos)} infos") + " must match")
    out = []
    for i, (det, image_id) in enumerate(zip(detections, image_ids)):
        boxes, scores, classes = (np.asarray(v) for v in det[:3])
        boxes = scale_boxes(boxes, infos[i]) if infos is not None else boxes.reshape(-1, 4).astype(np.float64)
        for (x1, y1, x2, y2), score, cls in zip(boxes.tolist(), scores.tolist(), classes.tolist()):
            out.append({"image_id": int(image_id), "score": float(score),
                        "category_id": int(cls) if category_ids is None else int(category_ids[int(cls)]),
                        "bbox": [x1, y1, x2 - x1, y2 - y1]})
    return out


def check_detections(coco, detections: Sequence[Mapping]) -> list[dict]:
    """Copies of the result dicts (loadRes writes into them), refusing ids the ground truth lacks."""
    dets = [dict(d, bbox=list(d["bbox"])) for d in detections]
    images, cats = set(coco.getImgIds()), set(coco.getCatIds())
    bad_img = sorted({d["image_id"] for d in dets} - images)
    if bad_img:
        raise ValueError(f"detections: image_id {bad_img[:5]} not in the ground truth")
    bad_cat = sorted({d["category_id"] for d in dets} - cats)
    if bad_cat:
        raise ValueError(f"detections: category_id {bad_cat[:5]} not in the ground truth {sorted(cats)[:5]}...")
    return dets


def coco_eval(gt, detections: Sequence[Mapping], *, image_ids: Sequence[int] | None = None,
              verbose: bool = False):
    """pycocotools' COCOeval (bbox), evaluated, accumulated and summarised; ``coco_evaluate``
    has the arguments. Its ``eval["precision"]`` [T, R, K, A, M] gives the per-class AP."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco_gt = load_coco(gt)
    dets = check_detections(coco_gt, detections)
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        if dets:
            coco_dt = coco_gt.loadRes(dets)
        else:  # loadRes indexes the first result; an empty result set is simply no annotations
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": [],
                               "categories": list(coco_gt.dataset["categories"])}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        if image_ids is not None:
            evaluator.params.imgIds = sorted(int(i) for i in image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def coco_stats(evaluator) -> dict[str, float]:
    """A summarised COCOeval -> {AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl}."""
    return {k: float(v) for k, v in zip(AP_KEYS + AR_KEYS, evaluator.stats)}


def coco_evaluate(gt, detections: Sequence[Mapping], *, image_ids: Sequence[int] | None = None,
                  verbose: bool = False, table: bool = True) -> dict[str, float]:
    """Run pycocotools' COCOeval (bbox) -> {AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs,
    ARm, ARl}.

    ``gt``: anything ``load_coco`` takes; ``detections``: COCO result dicts (may be empty: AP 0);
    ``image_ids``: evaluate only these (default all ground-truth images). pycocotools' own
    output shows only with ``verbose``; ``table`` prints ``format_table`` instead. A value of
    -1 is pycocotools' "no ground truth in that size range".
    """
    stats = coco_stats(coco_eval(gt, detections, image_ids=image_ids, verbose=verbose))
    if table:
        print(format_table(stats))
    return stats


def per_class_ap(evaluator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(category ids [K], AP50 [K], AP at IoU 0.5:0.95 [K]) of the categories with ground truth,
    from COCOeval's precision (area all, 100 detections), so their means are its AP50 and AP."""
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # [T, R, K]
    ids, ap50, ap = [], [], []
    for k, cat in enumerate(evaluator.params.catIds):
        p = precision[:, :, k]
        if (p > -1).any():
            ids.append(cat), ap50.append(p[0][p[0] > -1].mean()), ap.append(p[p > -1].mean())
    return np.array(ids, np.int64), np.array(ap50, np.float64), np.array(ap, np.float64)


def format_table(stats: Mapping[str, float]) -> str:
    """AP and AR as two header/value row pairs; -1 (nothing to measure) shows as '-'."""
    def rows(keys):
        values = ("-" if stats[k] < 0 else f"{stats[k]:.3f}" for k in keys)
        return "".join(f"{k:>8}" for k in keys) + "\n" + "".join(f"{v:>8}" for v in values)
    return rows(AP_KEYS) + "\n" + rows(AR_KEYS)


def pr_curve(gt, detections: Sequence[Mapping], *, iou_thres: float = 0.5, max_det: int = 100,
             image_ids: Sequence[int] | None = None) -> PRCurves:
    """Per-class precision / recall at ``iou_thres`` from the same inputs as ``coco_evaluate``;
    class ids in the result are category ids. At most ``max_det`` detections per image and class
    count, as in COCOeval, so ``pr_curve(...).map`` equals its AP50. ``image_ids`` as there."""
    coco = load_coco(gt)
    dets = check_detections(coco, detections)
    by_image: dict[int, list] = {}
    for d in dets:
        by_image.setdefault(d["image_id"], []).append(d)
    tps, confs, classes, targets = [], [], [], []
    for image_id in sorted(coco.getImgIds() if image_ids is None else image_ids):  # COCOeval's order: ties alike
        gts = coco.imgToAnns.get(image_id, [])
        crowd = np.array([bool(g.get("iscrowd", 0)) for g in gts], bool)
        gt_cls = np.array([g["category_id"] for g in gts], np.int64)
        targets.append(gt_cls[~crowd])
        boxes, scores, cls = top_per_class(by_image.get(image_id, []), max_det)
        tp, ignored = match_detections(boxes, scores, cls, ltwh2xyxy([g["bbox"] for g in gts]),
                                       gt_cls, iou_thres, crowd)
        tps.append(tp[~ignored]), confs.append(scores[~ignored]), classes.append(cls[~ignored])
    cat = lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype)  # noqa: E731
    return ap_per_class(cat(tps, bool), cat(confs, np.float64), cat(classes, np.int64),
                        cat(targets, np.int64), iou_thres)


def top_per_class(dets: Sequence[Mapping], max_det: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's result dicts -> (boxes [K, 4] xyxy, scores [K], category ids [K]), best score
    first (stable), keeping the ``max_det`` best of each category."""
    scores = np.array([d["score"] for d in dets], np.float64)
    order = np.argsort(-scores, kind="stable")
    cls = np.array([d["category_id"] for d in dets], np.int64)[order]
    rank = np.zeros(len(order), np.int64)
    for c in np.unique(cls):
        rank[cls == c] = np.arange((cls == c).sum())
    keep = order[rank < max_det]
    boxes = ltwh2xyxy([dets[i]["bbox"] for i in keep])
    return boxes, scores[keep], cls[rank < max_det]
