"""Detect objects in every image of a folder and write annotated copies plus a CSV of boxes.

    python -m detector.demos.folder demo-images out/     # the bundled images and model
    python -m detector.demos.folder photos/ out/ --weights model.onnx --conf-thres 0.4

Uses only the public API (``detector.Detector``, ``detector.io.images``). An unreadable image
(corrupt, or over the pixel cap of ``$CSPDET_MAX_PIXELS``) is reported and skipped; links that
loop or dangle are not images; an existing output file is never overwritten.
"""
import argparse
import csv
from pathlib import Path

import cv2

from detector import Detector
from detector.io.images import list_images
from detector.resources import resolve_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", help="folder of images (demo-images: the bundled ones)")
    ap.add_argument("out", type=Path, help="output folder (created)")
    ap.add_argument("--weights", default=None, help="default: the bundled shapes model")
    ap.add_argument("--conf-thres", type=float, default=0.25)
    args = ap.parse_args()

    images = resolve_source(args.images)
    if not Path(images).is_dir() and args.images == images:
        raise SystemExit(f"{args.images}: not a folder")
    det = Detector(args.weights, conf_thres=args.conf_thres)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = list_images(images)
    table = args.out / "detections.csv"
    if table.exists():
        raise SystemExit(f"{table}: already exists; choose another output folder")
    skipped = 0
    with table.open("w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow(["image", "class", "score", "x1", "y1", "x2", "y2"])
        for path in paths:
            try:
                result = det(str(path))
            except ValueError as e:  # unreadable image (detector.io.images): report, skip, go on
                print(f"skipped: {e}")
                skipped += 1
                continue
            out = args.out / path.name
            if not out.exists():
                cv2.imwrite(str(out), result.plot())
            for box, score, label in zip(result.xyxy, result.scores, result.labels):
                rows.writerow([path.name, label, f"{score:.3f}", *(f"{v:.1f}" for v in box)])
            print(f"{path.name}: {result.summary()}")
    print(f"{len(paths) - skipped} images, {skipped} skipped; results in {args.out}")


if __name__ == "__main__":
    main()
