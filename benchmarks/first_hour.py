"""The figures of docs/first_hour.md: how long ``cspdet --help`` takes, and what ``--augment`` and
``--rect`` change on the bundled shapes model.

    python benchmarks/first_hour.py [--before PATH] [--rounds 2] [--json out.json] [--quick]

- help: median wall time of 5 runs each of ``cspdet --help``, ``--version``, ``detect --help``
  and ``train --help`` in fresh processes (``--before PATH``: also a tree whose ``detector``
  package is at PATH, e.g. ``git archive`` of an older commit, run the same way);
- ``--augment``: ``cspdet val`` AP50 / AP and inference ms per image on the shapes model's own
  validation set (``cspdet synth``'s defaults, at --img-size 128), with and without;
- ``--rect``: the same on 200 wide (360x640, as the demo media) images at the model's 256 px,
  square batches against batches by aspect ratio. Runs alternate over ``--rounds`` so a busy
  machine slows each alike; AP is the same every round, times are medians.

``--quick`` (a smoke run for the tests): 8 validation images, one round, no figures worth quoting.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from detector.bench.report import table
from detector.cli import main as cspdet

HELP = (["--help"], ["--version"], ["detect", "--help"], ["train", "--help"])


def help_seconds(pythonpath: str | None, runs: int = 5) -> dict[str, float]:
    """{command: median seconds} of ``python -m detector ARGS`` in fresh processes."""
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    out = {}
    with tempfile.TemporaryDirectory() as cwd:  # not the checkout: -m puts the cwd first on sys.path
        for argv in HELP:
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "detector", *argv], cwd=cwd, env=env, check=True,
                               capture_output=True)
                times.append(time.perf_counter() - t0)
            out["cspdet " + " ".join(argv)] = statistics.median(times)
    return out


def quiet(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cspdet(argv)
    if code:
        raise SystemExit(f"cspdet {' '.join(argv)} failed ({code})")


def val(data: Path, runs: Path, name: str, *extra: str) -> dict:
    quiet(["val", "--data", str(data), "--project", str(runs), "--name", name, *extra])
    done = sorted(runs.glob(f"{name}*"), key=lambda p: p.stat().st_mtime)[-1]
    return json.loads((done / "metrics.json").read_text())


def compare(data: Path, runs: Path, variants: dict[str, list[str]], rounds: int) -> list[dict]:
    """Each variant's AP50, AP and median inference + NMS ms per image over ``rounds``."""
    seen: dict[str, list[dict]] = {k: [] for k in variants}
    for _ in range(rounds):
        for label, extra in variants.items():
            seen[label].append(val(data, runs, label.strip("-"), *extra))
    rows = []
    for label, ms in seen.items():
        rows.append({"run": label, "AP50": ms[0]["AP50"], "AP": ms[0]["AP"],
                     "inference ms": statistics.median(m["speed_ms"]["inference"] for m in ms),
                     "NMS ms": statistics.median(m["speed_ms"]["nms"] for m in ms)})
    return rows


def markdown(rows: list[dict]) -> str:
    fmt = [{k: f"{v:.4f}" if k.startswith("AP") else f"{v:.2f}" if isinstance(v, float) else v for k, v in r.items()}
           for r in rows]
    return table(list(fmt[0]), [list(r.values()) for r in fmt])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", help="PYTHONPATH of an older tree to time --help against")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 8 images, one round, one help run each")
    args = ap.parse_args(argv)
    runs, n_val = (1, ["--train", "1", "--val", "8"]) if args.quick else (5, [])
    rounds = 1 if args.quick else args.rounds
    report = {"help": {"now": help_seconds(None, runs)}}
    if args.before:
        report["help"]["before"] = help_seconds(args.before, runs)
    print(markdown([{"command": k, **{f"{w} (s)": v[k] for w, v in report["help"].items()}}
                    for k in report["help"]["now"]]))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        quiet(["synth", str(tmp / "shapes"), *n_val])  # the shipped model's recipe (its defaults)
        quiet(["synth", str(tmp / "wide"), "--train", "1", "--val", "8" if args.quick else "200",
               "--img-size", "360", "640"])
        report["augment"] = compare(tmp / "shapes" / "data.yaml", tmp / "runs",
                                    {"plain": ["--img-size", "128"], "--augment": ["--img-size", "128", "--augment"]},
                                    rounds)
        report["rect"] = compare(tmp / "wide" / "data.yaml", tmp / "runs", {"square": [], "--rect": ["--rect"]}, rounds)
    for key in ("augment", "rect"):
        print(markdown(report[key]))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
