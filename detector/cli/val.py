"""``cspdet val``: COCO AP of a model on a dataset split (YOLO-format or COCO JSON)."""
from __future__ import annotations

import json
from typing import NamedTuple

from .argtypes import positive_int, probability
from .common import add_model_args


def add_parser(sub) -> None:
    p = sub.add_parser("val", help="score a model with pycocotools (AP, AP50, AP75, APs/m/l)",
                       description="Evaluate with pycocotools COCOeval; prints the table and saves metrics.json.")
    add_model_args(p)
    p.add_argument("--data", required=True, help="dataset YAML")
    p.add_argument("--split", default="val", help="which split of the YAML (default: val)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per inference call (default: 8)")
    p.add_argument("--conf-thres", type=probability, default=0.001, help="score threshold (default: 0.001)")
    p.add_argument("--iou-thres", type=probability, default=0.6, help="NMS IoU threshold (default: 0.6)")
    p.add_argument("--max-det", type=positive_int, default=300, help="detections per image (default: 300)")
    p.add_argument("--project", default="runs/val", help="parent folder of run folders (default: runs/val)")
    p.add_argument("--name", default="exp", help="run folder name, never overwritten (default: exp)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..data import build_dataset, load_data_config
    from ..runtime.predictor import Detector
    from ..io.files import new_run_dir, remove_if_empty
    from .common import default_weights

    data = load_data_config(args.data)
    weights = args.weights or default_weights()
    det = Detector(weights, backend=args.backend, device=args.device, img_size=args.img_size, threads=args.threads,
                   cfg=args.cfg, half=args.half, spin=args.spin, conf_thres=args.conf_thres, iou_thres=args.iou_thres,
                   max_det=args.max_det)
    ds = build_dataset(data, args.split, img_size=det.img_size, augment=False)
    if len(det.names) != ds.nc:
        raise ValueError(f"--weights {weights}: model has {len(det.names)} classes, {args.data} has {ds.nc}")
    out = new_run_dir(args.project, args.name)  # before the work: a bad --project fails first
    try:
        metrics = evaluate_and_save(det, ds, args, out, weights)
    except BaseException:
        remove_if_empty(out)
        raise
    print(f"AP50 {metrics['AP50']:.4f}  AP {metrics['AP']:.4f}; saved metrics.json, predictions.json, "
          f"PR_curve.png to {out}")
    return 0


def evaluate_and_save(det, ds, args, out, weights) -> dict:
    """Score ``det`` on ``ds``; write metrics.json, predictions.json and PR_curve.png into ``out``."""
    from ..engine.validate import validate
    from ..io.files import write_bytes

    def predict(imgs, recs) -> list[dict]:
        return [d for rec, res in zip(recs, det.predict(imgs)) for d in res.coco(rec.image_id, ds.category_ids)]

    n = len(ds.records)
    metrics, dets = validate(predict, read_batches(ds.records, args.batch_size), ds, table=True,
                             pr_plot=out / "PR_curve.png", total=-(-n // args.batch_size), leave=True)
    summary = {"weights": str(weights), "data": str(args.data), "split": args.split, **metrics}
    write_bytes(out / "metrics.json", json.dumps(summary, indent=2).encode())
    write_bytes(out / "predictions.json", json.dumps(dets).encode())
    return metrics


class Item(NamedTuple):
    """A record as ``engine.validate`` reads it: the image id, and why it could not be read."""

    image_id: int
    error: str | None = None


def read_batches(records, batch_size: int):
    """(BGR images, Items) per ``batch_size`` records, in original pixels. An unreadable image
    is reported here and marked with ``error`` (its image is None): validate leaves it out."""
    import sys

    from tqdm import tqdm

    from ..io.images import ImageError, read_image

    for i in range(0, len(records), batch_size):
        imgs, items = [], []
        for rec in records[i:i + batch_size]:
            try:
                imgs.append(read_image(rec.path))
                items.append(Item(rec.image_id))
            except ImageError as e:
                tqdm.write(f"skipped: {e} (left out of the scores)", file=sys.stderr)
                imgs.append(None)
                items.append(Item(rec.image_id, str(e)))
        yield imgs, items
