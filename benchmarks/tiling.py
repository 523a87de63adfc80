"""Tiled inference on generated 4K images with small objects: AP (plain letterbox against tiles,
each merge) and milliseconds per image against the tile count, with a PNG plot.

    python benchmarks/tiling.py [--images 8] [--runs 5] [--json tiling.json] [--plot tiling.png]

The set: ``cspdet synth --img-size 2160 3840 --sizes-px 20 48 --objects 30 40`` (seeded); the
model: the shipped shapes model (trained on 11-50 px shapes in 128-px inputs). Scored with
``cspdet val`` (pycocotools; APs = COCO's small objects, under 32 x 32 px).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHAPES = REPO / "weights" / "cspdet-shapes.pt"
# (label, img size, val flags): the whole image at the model's sizes, tiles at half and full
# resolution, the three merges, and the whole image at the size whose cost matches 256-px tiles.
SCORED = [("plain @128", 128, []), ("plain @256", 256, []),
          ("tiles 256 @128, edge", 128, ["--tile", "256"]),
          ("tiles 256 @128, nms", 128, ["--tile", "256", "--tile-merge", "nms"]),
          ("tiles 256 @128, nmm (SAHI)", 128, ["--tile", "256", "--tile-merge", "nmm"]),
          ("tiles 128 @128, edge", 128, ["--tile", "128"]),
          ("plain @1920 (the cost of 256-px tiles)", 1920, [])]
TIMED = [None, 2048, 1024, 512, 384, 256]  # tile sizes at --img-size 128 (None: no tiles)


def score(data: Path, out: Path) -> list[dict]:
    from detector.cli import main

    rows = []
    for i, (label, size, flags) in enumerate(SCORED):
        assert main(["val", "--weights", str(SHAPES), "--data", str(data), "--img-size", str(size),
                     "--project", str(out), "--name", f"run{i}", *flags]) == 0
        m = json.loads((out / f"run{i}" / "metrics.json").read_text())
        rows.append({"run": label, **{k: m[k] for k in ("AP", "AP50", "APs", "APm", "ARs")},
                     "ms_per_image": sum(m["speed_ms"].values())})
    return rows


def timing(image_path: Path, runs: int) -> list[dict]:
    from detector import Detector
    from detector.io.images import read_image

    img, rows = read_image(image_path), []
    for tile in TIMED:
        det = Detector(SHAPES, img_size=128, tile=tile)
        windows = len(det.tiler.windows(img.shape)) if tile else 1
        det(img)  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            det(img)
            times.append((time.perf_counter() - t) * 1e3)
        rows.append({"tile": tile or "none", "windows": windows, "ms_per_image": statistics.median(times)})
    return rows


def plot(timed: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs, ys = [r["windows"] for r in timed], [r["ms_per_image"] for r in timed]
    ax.plot(xs, ys, "o-")
    for r in timed:
        ax.annotate(f"tile {r['tile']}", (r["windows"], r["ms_per_image"]), textcoords="offset points", xytext=(4, -10),
                    fontsize=8)
    ax.set_xlabel("windows per 3840x2160 image (tiles + the whole image)")
    ax.set_ylabel("ms per image (median)")
    ax.set_title("Tiled inference cost, shapes model at 128 px, CPU")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def markdown(rows: list[dict], keys: list[str]) -> str:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=8, help="4K validation images to score")
    ap.add_argument("--runs", type=int, default=5, help="timed calls per tile size")
    ap.add_argument("--json", default="tiling.json")
    ap.add_argument("--plot", default="tiling.png")
    args = ap.parse_args(argv)
    from detector.data import make_synthetic_dataset

    with tempfile.TemporaryDirectory(prefix="cspdet-tiling-") as tmp:
        tmp = Path(tmp)
        data = make_synthetic_dataset(tmp / "set", 1, args.images, img_size=(2160, 3840), seed=4,
                                      objects=(30, 40), sizes=(20, 48), absolute=True)
        scored = score(data, tmp / "runs")
        timed = timing(tmp / "set" / "images" / "val" / "val_00000.jpg", args.runs)
    print("\n## Small objects in 3840x2160 images (pycocotools)\n")
    print(markdown(scored, ["run", "AP", "AP50", "APs", "APm", "ARs", "ms_per_image"]))
    print("\n## Milliseconds per image against the tile count (img-size 128)\n")
    print(markdown(timed, ["tile", "windows", "ms_per_image"]))
    Path(args.json).write_text(json.dumps({"scored": scored, "timed": timed}, indent=1))
    print(f"\nsaved {args.json}, {plot(timed, Path(args.plot))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
