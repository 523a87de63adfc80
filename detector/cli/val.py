"""``cspdet val``: COCO AP of a model on a dataset split (YOLO-format or COCO JSON)."""
from __future__ import annotations

import json

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
    from ..engine.evaluate import coco_evaluate, pr_curve
    from ..engine.metrics import plot_pr_curve
    from ..engine.validate import ground_truth
    from ..io.files import write_bytes

    skipped: set[int] = set()
    dets = predict(det, ds, args.batch_size, skipped)
    gt = ground_truth(ds, skipped)
    metrics = coco_evaluate(gt, dets, table=True)
    summary = {"weights": str(weights), "data": str(args.data), "split": args.split, **metrics}
    write_bytes(out / "metrics.json", json.dumps(summary, indent=2).encode())
    write_bytes(out / "predictions.json", json.dumps(dets).encode())
    plot_pr_curve(pr_curve(gt, dets), out / "PR_curve.png", names=dict(zip(ds.category_ids, ds.names)))
    return metrics


def predict(det, ds, batch_size: int, skipped: set[int]) -> list[dict]:
    """COCO-format detections of ``det`` over the dataset's images, in original pixels. An
    unreadable image is reported and its id added to ``skipped`` (left out of the scores)."""
    import sys

    from tqdm import tqdm

    from ..io.images import ImageError, read_image

    out = []
    recs = ds.records
    for i in tqdm(range(0, len(recs), batch_size), desc="val", unit="batch"):
        chunk, imgs = [], []
        for rec in recs[i:i + batch_size]:
            try:
                imgs.append(read_image(rec.path))
                chunk.append(rec)
            except ImageError as e:
                tqdm.write(f"skipped: {e} (left out of the scores)", file=sys.stderr)
                skipped.add(rec.image_id)
        for rec, res in zip(chunk, det.predict(imgs) if imgs else []):
            out += res.coco(rec.image_id, ds.category_ids)
    return out
