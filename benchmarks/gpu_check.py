"""The GPU check: one short command for a machine with a CUDA GPU (sized for well under 10 minutes on an H200).

    PYTHONPATH=. python benchmarks/gpu_check.py [--out runs/gpu_check] [--quick] [--graphs]
                                                [--only tests,train,fps] [--device 0]

Parts, each reported (and a failure in one never stops the others):

- tests: ``pytest -m cuda tests/cuda``: CUDA against the CPU for every model config and the
  Darknet YOLOv4 graphs (FP32, AMP, FP16), and train/val/detect through the CLI on --device 0;
- train: one coco128 epoch with AMP ($CSPDET_SHARED/data/coco128), images/s;
- fps: PyTorch CUDA speed of EFM(SAM)-CSPPeleeNet, YOLOv4-tiny and YOLOv4 (random weights, the
  Darknet graphs from $CSPDET_SHARED/darknet) at batch 1 and 32, 320/416/512, FP32 and FP16:
  network + decoder on an input already on the GPU (no copies, no NMS), cuDNN autotune on, TF32
  as PyTorch leaves it; warm-up, then the median of N synchronised calls; ``--graphs`` adds
  CUDA-graph replays at batch 1, where launch overhead shows.

Prints the GPU, driver, torch version and date, then Markdown tables; writes OUT/gpu_check.json
and OUT/gpu_check.md. Without CUDA it runs a reduced version on the CPU (fps of two models at
batch 1, 320, FP32; two training steps on 8 images; the cuda tests only collected), labelled
CPU, and names each part it skipped and why: a check of the script, not a CPU benchmark.
Exit status 1 when a part failed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from detector.bench.gpu import detector_forward, gpu_info, sync_for, time_forward
from detector.bench.measure import one_line
from detector.bench.report import table
from detector.bench.specs import shared_dir

REPO = Path(__file__).resolve().parents[1]
PARTS = ("tests", "train", "fps")
MODELS = {"EFM(SAM)-CSPPeleeNet": "csppeleenet-efm-sam", "YOLOv4-tiny": "darknet/yolov4-tiny.cfg",
          "YOLOv4": "darknet/yolov4.cfg"}
CPU_MODELS = ("EFM(SAM)-CSPPeleeNet", "YOLOv4-tiny")
TESTS_TIMEOUT = 360  # s; the cuda tests are sized for 2-3 minutes on a 16-core GPU host


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/gpu_check"), help="folder for gpu_check.json/.md")
    p.add_argument("--quick", action="store_true", help="fewer sizes and timed runs (and a smaller CPU run)")
    p.add_argument("--graphs", action="store_true", help="also time CUDA-graph replays at batch 1")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts (default: {','.join(PARTS)})")
    p.add_argument("--device", default="", help="'' (CUDA when present, else CPU), cpu or a GPU index")
    args = p.parse_args(argv)
    args.parts = [s for s in args.only.split(",") if s]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        p.error(f"--only: unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    return args


# ---- tests ------------------------------------------------------------------------------------
def run_tests(cuda: bool, out: Path) -> dict:
    """The cuda tests in a child pytest; without CUDA only collected, so a broken file still shows."""
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "tests/cuda", "-q", "-p", "no:cacheprovider"]
    cmd += [f"--junitxml={out / 'cuda-tests.xml'}"] if cuda else ["--collect-only"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TESTS_TIMEOUT)
    (out / "cuda-tests.log").write_text(r.stdout + r.stderr)
    lines = [ln for ln in r.stdout.strip().splitlines() if ln.strip()]
    result = {"command": " ".join(["pytest"] + cmd[3:]), "returncode": r.returncode,
              "summary": lines[-1].strip("= ") if lines else one_line(RuntimeError(r.stderr))}
    if r.returncode != 0:
        raise RuntimeError(f"pytest exit {r.returncode}: {result['summary']} (see {out / 'cuda-tests.log'})")
    return result


# ---- train ------------------------------------------------------------------------------------
class StampedLoader:
    """The trainer's loader, noting the time each batch is handed out: a step ends with a sync
    (the loss is read back), so the stamps are step boundaries."""

    def __init__(self, loader):
        self.loader, self.stamps, self.sizes = loader, [], []

    def __len__(self):
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __iter__(self):
        for batch in self.loader:
            self.stamps.append(time.perf_counter())
            self.sizes.append(len(batch[0]))
            yield batch
        self.stamps.append(time.perf_counter())


def coco128_yaml(folder: Path, limit: int | None) -> Path:
    import yaml

    from detector.data.coco import COCO_NAMES

    images = sorted((shared_dir() / "data" / "coco128" / "images").glob("*.jpg"))[:limit]
    if not images:
        raise FileNotFoundError(f"{shared_dir() / 'data' / 'coco128'}: no images (set CSPDET_SHARED)")
    (folder / "images.txt").write_text("".join(f"{p}\n" for p in images))
    path = folder / "coco128.yaml"
    path.write_text(yaml.safe_dump({"train": str(folder / "images.txt"), "val": str(folder / "images.txt"),
                                    "names": list(COCO_NAMES)}))
    return path


def train_epoch(device: torch.device) -> dict:
    """One epoch (no validation) timed by the step; images/s over the epoch and after step 1."""
    from detector.engine.train import Trainer, TrainConfig

    cuda = device.type == "cuda"
    s = (dict(model="csppeleenet-efm-sam", img_size=416, batch=16, images=None, workers=min(8, os.cpu_count() or 1))
         if cuda else dict(model="csppeleenet-efm-nano", img_size=64, batch=4, images=8, workers=0))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(cfg=s["model"], data=str(coco128_yaml(Path(tmp), s["images"])), epochs=1,
                          batch_size=s["batch"], nbs=s["batch"], img_size=s["img_size"], workers=s["workers"],
                          device=str(device.index or 0) if cuda else "cpu", project=str(Path(tmp) / "runs"))
        trainer = Trainer(cfg)
        trainer.loader = loader = StampedLoader(trainer.loader)
        sync = sync_for(device)
        sync()
        t0 = time.perf_counter()
        losses, _ = trainer.train_one_epoch()
        sync()
        t1 = time.perf_counter()
    n, steady = sum(loader.sizes), sum(loader.sizes[1:])
    after = steady / (t1 - loader.stamps[1]) if len(loader.sizes) > 1 else None
    return {"model": s["model"], "img_size": s["img_size"], "batch": s["batch"], "images": n, "steps": len(loader),
            "amp": trainer.amp, "workers": s["workers"], "seconds": round(t1 - t0, 2),
            "images_per_s": round(n / (t1 - t0), 1), "images_per_s_after_step1": after and round(after, 1),
            "loss": [round(v, 4) for v in losses]}


# ---- fps --------------------------------------------------------------------------------------
def fps_plan(cuda: bool, quick: bool, graphs: bool) -> tuple[list[tuple], list[str]]:
    """(model, size, batch, precision, graph) cases, and what is left out and why."""
    if not cuda:
        skipped = ["fps: batch 32, 416/512, FP16, CUDA graphs and YOLOv4: no CUDA (this CPU run only "
                   "exercises the code; `cspdet bench` measures CPUs)"]
        return [(m, 320, 1, "fp32", False) for m in CPU_MODELS], skipped
    sizes = (320,) if quick else (320, 416, 512)
    # one model and precision at a time, so each model is built once per precision
    cases = [(m, s, b, p, g) for m in MODELS for p in ("fp32", "fp16") for s in sizes for b in (1, 32)
             for g in ((False, True) if graphs and b == 1 else (False,))]
    return cases, ["fps: 416/512 (--quick)"] if quick else []


def load_model(label: str, device: torch.device, half: bool):
    """The model with BN folded, on ``device``, and its torch decoder (as the torch backend builds them)."""
    from detector.models.fuse import fold_bn
    from detector.models.loading import load_detector
    from detector.geometry.decode import YOLODecoder

    source = MODELS[label]
    if source.endswith(".cfg"):
        source = shared_dir() / source
        if not source.is_file():
            raise FileNotFoundError(f"{source}: no such Darknet cfg (set CSPDET_SHARED)")
    model = load_detector(source)
    net = fold_bn(model).to(device)
    return (net.half() if half else net), YOLODecoder.from_model(model).to(device)


def measure_fps(cases: list[tuple], device: torch.device, runs: int, warmup: int) -> list[dict]:
    rows, loaded = [], {}
    for label, size, batch, precision, graph in cases:
        key = (label, precision)
        row = {"model": label, "size": size, "batch": batch, "precision": precision, "cuda_graph": graph,
               "device": "CPU" if device.type == "cpu" else "CUDA"}
        try:
            if key not in loaded:
                loaded.clear()  # one model in memory at a time
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                loaded[key] = load_model(label, device, precision == "fp16")
            net, decoder = loaded[key]
            x = torch.rand(batch, 3, size, size, device=device, dtype=torch.float16 if precision == "fp16" else None)
            stat = time_forward(detector_forward(net, decoder, x), device, runs, warmup, graph=graph)
            row.update(median_ms=round(stat.median, 3), p90_ms=round(stat.p90, 3), runs=stat.n,
                       images_per_s=round(batch * 1e3 / stat.median, 1))
        except Exception as e:  # an OOM or a missing cfg loses one row, not the report
            row["error"] = one_line(e)
        print(f"  {label} @{size} b{batch} {precision}{' graph' if graph else ''}: "
              + (f"{row['images_per_s']} img/s" if "images_per_s" in row else row["error"]), flush=True)
        rows.append(row)
    return rows


# ---- report -----------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    env, parts = report["environment"], report["parts"]
    title = (f"# GPU check: {env['gpu']}, driver {env['driver']}" if env["gpu"]
             else f"# GPU check on CPU (reduced; no CUDA): {env['cpu']}")
    cuda = f" (CUDA {env['cuda_runtime']})" if env["cuda_runtime"] else ""
    lines = [title, "", f"torch {env['torch']}{cuda} | device {env['device']} | "
             + " | ".join(f"{k} {env[k]}" for k in ("cudnn", "cudnn_benchmark", "tf32_conv", "threads") if k in env)
             + f" | {env['date']}", ""]
    if "tests" in parts:
        t = parts["tests"]
        lines += ["## Tests: pytest -m cuda tests/cuda", "", t.get("summary") or t.get("error", ""), ""]
    if "train" in parts and "images_per_s" in parts["train"]:
        t = parts["train"]
        amp = " with AMP" if t["amp"] else " (FP32: AMP is CUDA-only)"
        lines += ["## Training: one epoch on coco128 images" + amp, "",
                  table(["model", "size", "batch", "images", "steps", "workers", "seconds", "images/s",
                         "images/s after step 1"],
                        [[t["model"], t["img_size"], t["batch"], t["images"], t["steps"], t["workers"], t["seconds"],
                          t["images_per_s"], t["images_per_s_after_step1"] or "–"]]), ""]
    if parts.get("fps", {}).get("rows"):
        f = parts["fps"]
        lines += ["## Inference speed: PyTorch network + decoder, input on the device (no copies, no NMS)", "",
                  f"Median of {f['runs']} synchronised calls after {f['warmup']} warm-up calls; random weights.", "",
                  table(["model", "device", "size", "batch", "precision", "CUDA graph", "median ms", "p90 ms",
                         "images/s"],
                        [[r["model"], r["device"], r["size"], r["batch"], r["precision"].upper(),
                          "yes" if r["cuda_graph"] else "no", r.get("median_ms", "–"), r.get("p90_ms", "–"),
                          r.get("images_per_s", r.get("error", "–"))] for r in parts["fps"]["rows"]]), ""]
    for title_, items in (("Skipped", report["skipped"]), ("Failed", report["failed"])):
        if items:
            lines += [f"## {title_}", ""] + [f"- {s}" for s in items] + [""]
    return "\n".join(lines)


def run_part(name: str, fn, report: dict) -> None:
    print(f"\n[{name}]", flush=True)
    t0 = time.perf_counter()
    try:
        report["parts"][name] = fn()
    except Exception as e:  # report it and go on: one broken part must not hide the others' figures
        report["parts"][name] = {"error": one_line(e)}
        report["failed"].append(f"{name}: {one_line(e)}")
    report["parts"][name]["part_seconds"] = round(time.perf_counter() - t0, 1)


def main(argv: list[str] | None = None) -> int:
    from detector.devices import select_device

    args = parse_args(argv)
    device = torch.device(select_device(args.device))
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    args.out.mkdir(parents=True, exist_ok=True)
    env = gpu_info(device)
    print(f"GPU {env['gpu'] or 'none (CPU run)'} | driver {env['driver']} | torch {env['torch']} | {env['date']}")
    report = {"environment": env, "quick": args.quick, "parts": {}, "skipped": [], "failed": []}
    report["skipped"] += [f"{p}: not in --only" for p in PARTS if p not in args.parts]
    t0 = time.perf_counter()
    if "tests" in args.parts:
        if not cuda:
            report["skipped"].append("tests: no CUDA device, so the cuda tests were only collected, not run")
        run_part("tests", lambda: run_tests(cuda, args.out), report)
    if "train" in args.parts:
        if not cuda:
            report["skipped"].append("train: no CUDA, so no AMP and not all of coco128: 2 steps on 8 images "
                                     "at 64 px, FP32")
        run_part("train", lambda: train_epoch(device), report)
    if "fps" in args.parts:
        cases, skipped = fps_plan(cuda, args.quick, args.graphs)
        report["skipped"] += skipped
        runs, warmup = (30, 10) if cuda and not args.quick else (10, 5) if cuda else (2, 1)
        run_part("fps", lambda: {"runs": runs, "warmup": warmup, "rows": measure_fps(cases, device, runs, warmup)},
                 report)
        report["failed"] += [f"fps: {r['model']} @{r['size']} b{r['batch']} {r['precision']}: {r['error']}"
                             for r in report["parts"]["fps"].get("rows", []) if "error" in r]
    report["seconds"] = round(time.perf_counter() - t0, 1)
    text = markdown(report)
    (args.out / "gpu_check.md").write_text(text + "\n")
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print("\n" + text + f"\n{report['seconds']} s; wrote {args.out / 'gpu_check.json'} and {args.out / 'gpu_check.md'}")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
