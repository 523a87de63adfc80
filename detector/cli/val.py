"""``cspdet val``: COCO AP of a model on a dataset split (YOLO-format or COCO JSON), reported as
yolov5's val.py does: per-class table, speed line, PR / F1 / P / R curves, confusion matrix."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

from . import DefaultsFormatter
from .argtypes import positive_int, probability
from .common import add_model_args
from .tiling import add_tile_args, tile_kwargs

# yolov5's thresholds: scoring keeps almost every box; --task speed times a deployment's.
THRESHOLDS = {"val": (0.001, 0.6), "speed": (0.25, 0.45)}


def add_parser(sub) -> None:
    p = sub.add_parser("val", help="score a model with pycocotools (AP, AP50, AP75, APs/m/l, per class)",
                       formatter_class=DefaultsFormatter,
                       description="Evaluate with pycocotools COCOeval; prints yolov5's per-class table, the "
                                   "speed and COCO's 12 numbers, saves metrics.json and the plots.")
    add_model_args(p)
    p.add_argument("--data", required=True, help="dataset YAML")
    p.add_argument("--split", default="val", help="which split of the YAML")
    p.add_argument("--task", choices=list(THRESHOLDS), default="val",
                   help="val: metrics and plots; speed: timings only (no metrics, nothing saved)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per inference call")
    p.add_argument("--conf-thres", type=probability, default=None,
                   help="score threshold (default: 0.001; 0.25 with --task speed)")
    p.add_argument("--iou-thres", type=probability, default=None,
                   help="NMS IoU threshold (default: 0.6; 0.45 with --task speed)")
    p.add_argument("--max-det", type=positive_int, default=300, help="detections per image")
    p.add_argument("--single-cls", action="store_true", help="score every class as one")
    p.add_argument("--augment", action="store_true", help="test-time augmentation, as detect --augment")
    p.add_argument("--rect", action="store_true",
                   help="batches of like aspect ratio, each at its own shape (+ half a stride), as yolov5's val.py "
                        "(a .pt or a --dynamic ONNX export)")
    p.add_argument("--verbose", action="store_true", help="a table row per class (always below 50 classes)")
    p.add_argument("--save-json", action="store_true",
                   help="save the COCO results predictions.json (and image_ids.json where ids are not file stems)")
    p.add_argument("--save-txt", action="store_true", help="save YOLO-format labels/<image>.txt")
    p.add_argument("--save-conf", action="store_true", help="add scores to --save-txt labels")
    p.add_argument("--project", default="runs/val", help="parent folder of run folders")
    p.add_argument("--name", default="exp", help="run folder name, never overwritten")
    add_tile_args(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..data import build_dataset, load_data_config
    from ..io.files import new_run_dir, remove_if_empty
    from ..runtime.predictor import Detector
    from .common import default_weights

    data = load_data_config(args.data)
    weights = args.weights or default_weights()
    conf, iou = (v if v is not None else d for v, d in zip((args.conf_thres, args.iou_thres), THRESHOLDS[args.task]))
    det = Detector(weights, backend=args.backend, device=args.device, img_size=args.img_size, threads=args.threads,
                   cfg=args.cfg, half=args.half, spin=args.spin, conf_thres=conf, iou_thres=iou,
                   max_det=args.max_det, augment=args.augment, dynamic=args.rect, **tile_kwargs(args))
    ds = build_dataset(data, args.split, img_size=det.img_size, augment=False)
    if len(det.names) != ds.nc and not args.single_cls:
        raise ValueError(f"--weights {weights}: model has {len(det.names)} classes, {args.data} has {ds.nc} "
                         "(--single-cls scores them as one)")
    if args.task == "speed":
        print(speed_only(det, ds, args))
        return 0
    out = new_run_dir(args.project, args.name)  # before the work: a bad --project fails first
    try:
        metrics = evaluate_and_save(det, ds, args, out, weights)
    except BaseException:
        remove_if_empty(out)
        raise
    print(f"AP50 {metrics['AP50']:.4f}  AP {metrics['AP']:.4f}; results saved to {out}")
    return 0


def speed_only(det, ds, args) -> str:
    """yolov5's ``--task speed``: run the split, time it, score nothing."""
    from tqdm import tqdm

    speeds = []
    batches = read_batches(ds.records, args.batch_size, rect_sizes(det, ds, args))
    for imgs, items in tqdm(batches, desc="speed", unit="batch", total=-(-len(ds.records) // args.batch_size)):
        readable = [im for im in imgs if im is not None]
        speeds.append([r.speed for r in det.predict(readable, size=items[0].size)] if readable else [])
    return warm_speed(speeds, (args.batch_size, 3, *det.img_size))[0]


def warm_speed(batches: list[list[dict]], shape) -> tuple[str, dict]:
    """(yolov5's speed line, mean ms) over the batches after the first; the first batch (the runtime's
    warm-up: allocations, kernel choice) is reported beside it, not averaged in. One batch only: it
    is all there is, and the line says it includes the warm-up."""
    from ..engine.report import mean_speed, speed_line

    batches = [b for b in batches if b]
    if len(batches) < 2:
        speed = mean_speed(batches[0] if batches else [])
        return speed_line(speed, shape) + " (one batch: includes warm-up)", speed
    speed = mean_speed([s for b in batches[1:] for s in b])
    first = mean_speed(batches[0])
    return (speed_line(speed, shape) + f" after the first batch (warm-up: {first['inference']:.1f}ms inference "
            "per image, left out)"), speed


def rect_sizes(det, ds, args):
    """``--rect``: (record indices, input (h, w)) per batch (``data.rect``), else None."""
    if not args.rect:
        return None
    from ..data.rect import rect_batches

    return list(zip(*rect_batches([r.shape for r in ds.records], args.batch_size, max(det.img_size),
                                  max(det.backend.spec.strides), pad=0.5)))


def evaluate_and_save(det, ds, args, out: Path, weights) -> dict:
    """Score ``det`` on ``ds``; print the tables and speed; write metrics.json, the plots and
    (as asked) predictions.json and labels/ into ``out``."""
    import numpy as np

    from ..engine.evaluate import format_table
    from ..engine.report import class_rows, format_rows, save_plots, summary
    from ..engine.validate import validate
    from ..io.files import write_bytes

    speeds: list[list[dict]] = []
    ids = [0] if args.single_cls else ds.category_ids
    if args.save_txt:
        (out / "labels").mkdir(exist_ok=True)

    def predict(imgs, items) -> list[dict]:
        results = det.predict(imgs, size=items[0].size)
        speeds.append([r.speed for r in results])
        for r in results if args.single_cls else ():  # after class-aware NMS, as yolov5
            r.class_ids = np.zeros_like(r.class_ids)
        if args.save_txt:
            for item, res in zip(items, results):
                lines = res.yolo_lines(item.shape, args.save_conf)
                write_bytes(out / "labels" / f"{Path(item.path).stem}.txt", "".join(ln + "\n" for ln in lines).encode())
        return [d for item, res in zip(items, results) for d in res.to_coco(item.image_id, ids)]

    n = len(ds.records)
    result = validate(predict, read_batches(ds.records, args.batch_size, rect_sizes(det, ds, args)), ds,
                      single_cls=args.single_cls, total=-(-n // args.batch_size), leave=True)
    rows, (line, speed) = class_rows(result), warm_speed(speeds, (args.batch_size, 3, *det.img_size))
    print(format_rows(rows, per_class=(args.verbose or ds.nc < 50) and len(rows) > 2))
    print(line)
    print(format_table(result.metrics))
    save_plots(result, out)
    body = {"weights": str(weights), "data": str(args.data), "split": args.split, **summary(result, rows, speed)}
    write_bytes(out / "metrics.json", json.dumps(body, indent=2).encode())
    if args.save_json:
        save_json(out, result.detections, ds.records)
    return result.metrics


def save_json(out: Path, detections: list[dict], records) -> None:
    """predictions.json, in the source's order of images (``--rect`` runs them by aspect ratio),
    each image's detections as the model gave them; image_ids.json beside it when an image id is
    not its file's number."""
    from ..data.coco import numeric_stem
    from ..io.files import write_bytes

    place = {r.image_id: i for i, r in enumerate(records)}
    detections = sorted(detections, key=lambda d: place.get(d["image_id"], len(place)))  # stable
    write_bytes(out / "predictions.json", json.dumps(detections).encode())
    if any(r.image_id != numeric_stem(Path(r.path).stem) for r in records):
        files = [{"id": r.image_id, "file_name": r.path} for r in records]
        write_bytes(out / "image_ids.json", json.dumps(files, indent=1).encode())


class Item(NamedTuple):
    """A record as ``engine.validate`` reads it: the image id, and why it could not be read."""

    image_id: int
    path: str
    shape: tuple[int, int]
    error: str | None = None
    size: tuple[int, int] | None = None  # the batch's input (h, w) under --rect


def read_batches(records, batch_size: int, rect=None):
    """(BGR images, Items) per ``batch_size`` records, in original pixels (``rect``: per batch,
    its record indices and input size, from ``rect_sizes``). An unreadable image is reported
    here and marked with ``error`` (its image is None): validate leaves it out."""
    from tqdm import tqdm

    from ..io.images import ImageError, read_image

    plan = rect or [(list(range(i, min(i + batch_size, len(records)))), None)
                    for i in range(0, len(records), batch_size)]
    for indices, size in plan:
        imgs, items = [], []
        for rec in (records[j] for j in indices):
            try:
                imgs.append(read_image(rec.path))
                items.append(Item(rec.image_id, rec.path, rec.shape, size=size))
            except ImageError as e:
                tqdm.write(f"skipped: {e} (left out of the scores)", file=sys.stderr)
                imgs.append(None)
                items.append(Item(rec.image_id, rec.path, rec.shape, str(e), size))
        yield imgs, items
