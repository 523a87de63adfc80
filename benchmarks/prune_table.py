"""What structured pruning buys: the shapes model at channel ratios R = 0, 0.25, 0.5, each with the
same short fine-tune, and YOLOv4-tiny-416 at the same ratios (random weights: latency only).

    PYTHONPATH=. python benchmarks/prune_table.py [--epochs 6] [--train 1000] [--val 200]
        [--json prune_table.json] [--plot prune_table.png] [--quick]

For each model it prints GFLOPs and params (conv weights, as ``cspdet info``), ONNX Runtime and
OpenVINO latency per image (median ms, measured in one block-alternated ``cspdet bench --block
8`` run, so every variant meets the same machine) and, for the shapes model, pycocotools AP50 on a
generated validation set after the fine-tune. R = 0 gets the same fine-tune as the pruned models,
so the AP50 column compares pruning alone. The recipe is the shipped model's (weights/README.md)
with fewer epochs and images: ``cspdet train --weights pruned.pt --epochs E --batch-size 16
--nbs 16 --optimizer adamw --lr0 0.008 --mosaic 0 --warmup-epochs 1`` at 128 px.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import tempfile
from pathlib import Path

from detector.bench import BenchConfig, parse_model, run_bench
from detector.bench.report import table
from detector.bench.specs import shared_dir
from detector.cli import main as cspdet
from detector.resources import default_weights_path

RATIOS = (0.0, 0.25, 0.5)
SIZE = 128


def quiet(argv: list[str]) -> str:
    """Run a cspdet command, return what it printed; a failure raises with that text."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cspdet(argv)
    if code != 0:
        raise RuntimeError(f"cspdet {' '.join(argv)} failed ({code}):\n{out.getvalue()[-2000:]}")
    return out.getvalue()


def prune(weights: str, ratio: float, size: int, work: Path, name: str) -> str:
    """``cspdet prune`` -> the pruned checkpoint (at R = 0 the model itself, as a checkpoint)."""
    if not ratio:
        if weights.endswith(".pt"):
            return weights
        quiet(["convert", "--weights", weights, "-o", str(work / f"{name}.pt")])
        return str(work / f"{name}.pt")
    quiet(["prune", "--weights", weights, "--ratio", str(ratio), "--img-size", str(size), "--project",
           str(work / "prune"), "--name", name])
    return str(work / "prune" / name / "pruned.pt")


def finetune(weights: str, data: Path, epochs: int, work: Path, name: str) -> tuple[str, float]:
    """The shipped model's recipe, ``epochs`` long -> (best.pt, AP50 on the validation split)."""
    quiet(["train", "--weights", weights, "--data", str(data), "--img-size", str(SIZE), "--epochs", str(epochs),
           "--batch-size", "16", "--nbs", "16", "--optimizer", "adamw", "--lr0", "0.008", "--mosaic", "0",
           "--warmup-epochs", "1", "--workers", "1", "--project", str(work / "train"), "--name", name])
    best = work / "train" / name / "weights" / "best.pt"
    text = quiet(["val", "--weights", str(best), "--data", str(data), "--img-size", str(SIZE), "--project",
                  str(work / "val")])
    return str(best), float(re.search(r"AP50 ([\d.]+)", text)[1])


def counts(weights: str, size: int) -> tuple[float, float]:
    """(GFLOPs, M conv weights) from ``cspdet info --json``."""
    info = json.loads(quiet(["info", "--weights", weights, "--img-size", str(size), "--json", "--no-layers"]))
    return info["flops"] / 1e9, info["params"] / 1e6


def plot(rows: list[dict], path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=120)
    a, b = fig.subplots(1, 2)
    for model, ax in (("shapes", a), ("yolov4-tiny", b)):
        sel = [r for r in rows if r["model"] == model]
        for backend, colour in (("onnxruntime", "tab:blue"), ("openvino", "tab:purple")):
            ax.plot([r["gflops"] for r in sel], [r[backend] for r in sel], "o-", color=colour, label=backend)
            for r in sel:
                ax.annotate(f"R={r['ratio']:g}", (r["gflops"], r[backend]), textcoords="offset points",
                            xytext=(4, 4), fontsize=7)
        title = f"{model} @{sel[0]['size']}" + (": AP50 " + ", ".join(f"{r['ap50']:.3f}" for r in sel)
                                               if sel[0].get("ap50") is not None else "")
        ax.set(xlabel="GFLOPs", ylabel="ms per image (median)", title=title)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--train", type=int, default=1000, help="generated training images")
    p.add_argument("--val", type=int, default=200, help="generated validation images")
    p.add_argument("--runs", type=int, default=56, help="timed calls per variant (7 blocks of 8)")
    p.add_argument("--json", type=Path, default=Path("prune_table.json"))
    p.add_argument("--plot", type=Path, default=Path("prune_table.png"))
    p.add_argument("--quick", action="store_true", help="1 epoch on 16 images, 14 runs, YOLOv4-tiny at 160: a smoke run")
    args = p.parse_args(argv)
    tiny_size = 416
    if args.quick:
        args.epochs, args.train, args.val, args.runs, tiny_size = 1, 16, 8, 14, 160
    tiny = shared_dir() / "darknet" / "yolov4-tiny.cfg"
    rows = []
    with tempfile.TemporaryDirectory(prefix="cspdet-prune-") as tmp:
        work = Path(tmp)
        quiet(["synth", str(work / "data"), "--train", str(args.train), "--val", str(args.val), "--img-size",
               str(SIZE), "--objects", "2", "5", "--sizes", "22", "100", "--seed", "11"])
        data = work / "data" / "data.yaml"
        for r in RATIOS:
            pruned = prune(str(default_weights_path()), r, SIZE, work, f"shapes-{r:g}")
            best, ap50 = finetune(pruned, data, args.epochs, work, f"shapes-{r:g}")
            rows.append({"model": "shapes", "ratio": r, "size": SIZE, "weights": best, "ap50": ap50})
        for r in RATIOS:
            rows.append({"model": "yolov4-tiny", "ratio": r, "size": tiny_size, "ap50": None,
                         "weights": prune(str(tiny), r, tiny_size, work, f"tiny-{r:g}")})
        (work / "models").mkdir()
        for r in rows:  # bench labels rows by file name: one name per variant
            named = work / "models" / f"{r['model']}-r{r['ratio']:g}.pt"
            shutil.copyfile(r["weights"], named)
            r["weights"] = str(named)
            r["gflops"], r["params_m"] = counts(r["weights"], r["size"])
        specs = [parse_model(f"{r['weights']}@{r['size']}") for r in rows]
        report = run_bench(BenchConfig(specs, backends=["onnxruntime", "openvino"], runs=args.runs, warmup=4,
                                       block=8), progress=False)
        for spec, r in zip(specs, rows):
            for row in report.rows:
                if row.model == spec.label:
                    r[row.backend] = row.inference.median
    body = [[r["model"], f"{r['ratio']:g}", r["size"], f"{r['gflops']:.3f}", f"{r['params_m']:.3f}",
             f"{r.get('onnxruntime', float('nan')):.2f}", f"{r.get('openvino', float('nan')):.2f}",
             "–" if r["ap50"] is None else f"{r['ap50']:.3f}"] for r in rows]
    print(table(["model", "R", "size", "GFLOPs", "params (M)", "ONNX Runtime ms", "OpenVINO ms",
                 f"AP50 ({args.epochs}-epoch fine-tune)"], body))
    m = report.machine
    print(f"{m['cpu']}, {m['threads']} threads; inference medians of one block-alternated run "
          f"({args.runs} calls per variant in blocks of 8, the first of each dropped)")
    for r in rows:
        r.pop("weights")
    args.json.write_text(json.dumps({"rows": rows, "machine": m}, indent=1))
    print(f"plot: {plot(rows, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
