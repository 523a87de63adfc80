"""How a bench Report is shown: Markdown tables, a summary, a JSON file and a PNG chart."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from .measure import BASELINE_BACKEND, Report, Row
from .published import published_lines


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table with columns padded to line up in a terminal too."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _f(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def _ms(stat) -> str:
    return f"{stat.median:.2f} / {stat.p90:.2f}"


def latency_table(rows: list[Row]) -> str:
    headers = ["model", "backend", "size", "batch", "first call ms", "pre ms (med / p90)", "infer ms (med / p90)",
               "post ms (med / p90)", "total ms (med / p90)", "fps", "GFLOPs", "GFLOP/s", "roof GFLOP/s",
               "% of roof", "% of peak", "dets/img"]
    body = [[r.model, r.backend, r.size, r.batch, _f(r.first_call_ms), _ms(r.pre), _ms(r.inference), _ms(r.post),
             _ms(r.total), _f(r.fps), _f(r.gflops, 3), _f(r.achieved_gflops_s), _f(r.roofline_gflops_s),
             _f(None if r.roofline_ratio is None else 100 * r.roofline_ratio, 0, "%"),
             _f(None if r.peak_ratio is None else 100 * r.peak_ratio, 0, "%"), _f(r.detections, 1)]
            for r in rows]
    return table(headers, body)


def roofline_table(report: Report) -> str:
    body = [[k, r.threads, f"{r.gflop:.3f}", _ms(r.ms), _f(r.gflops_per_s)] for k, r in report.rooflines.items()]
    return table(["backend", "threads", "GFLOP (3x3 conv 128->128 @80x80)", "ms (med / p90)", "GFLOP/s"], body)


def ratio_table(rows: list[Row]) -> str:
    baselines = [r.model for r in rows if r.backend == BASELINE_BACKEND]
    body = [[r.model, r.backend, r.size, _f(r.fps)] + [f"{r.ratios[b]:.2f}x" for b in baselines]
            for r in rows if r.backend != BASELINE_BACKEND]
    return table(["model", "backend", "size", "fps"] + [f"vs {b}" for b in baselines], body)


def video_table(rows: list[Row]) -> str:
    body = [[r.model, r.backend, r.size, r.video["frames"], r.video.get("streams", 1), _f(r.video["e2e_fps"]),
             _f(r.inference_fps),
             f"{100 * r.video['ratio']:.0f}%", f"{r.video['pre_ms']:.2f} / {r.video['inference_ms']:.2f} / "
             f"{r.video['post_ms']:.2f}"] for r in rows if r.video]
    return table(["model", "backend", "size", "frames", "streams", "end-to-end fps", "inference fps", "e2e / inference",
                  "in-loop ms pre / infer / post"], body)


def energy_table(rows: list[Row]) -> str:
    """Joules and process CPU-seconds per image of each row measured with ``--energy``."""
    body = []
    for r in rows:
        e = r.energy
        jpf = e["joules_per_frame"]
        watts = e["joules"] / e["seconds"] if jpf is not None and e["seconds"] > 0 else None
        body.append([r.model, r.backend, r.size, "n/a" if jpf is None else f"{jpf:.4g}", _f(watts, 2),
                     f"{e['cpu_s_per_frame']:.4f}", e["source"] or "none"])
    return table(["model", "backend", "size", "J / image", "W", "CPU s / image", "counter"], body)


def energy_note(rows: list[Row]) -> str | None:
    """The one line saying why there are no joules, when the counters could not be read."""
    from .energy import NO_COUNTERS

    missing = [r.energy for r in rows if r.energy and r.energy["joules"] is None]
    if not missing:
        return None
    why = missing[0].get("why_not")
    return f"{NO_COUNTERS[:-1]}{': ' + why if why else ''}): CPU-seconds per image are given instead"


def baseline_runtime(row: Row, machine: dict) -> str:
    """How a baseline row ran, with the OpenCV version: 'OpenCV 5.0.0 DNN (cspdet Darknet reader + ONNX export)'."""
    from .runners import BASELINE_PATHS

    return f"OpenCV {machine['versions'].get('cv2')} DNN ({BASELINE_PATHS.get(row.via, row.via)})"


def summary(report: Report) -> list[str]:
    """One line per model: its fastest backend and, against each baseline, the speed ratio."""
    lines = []
    models = [r for r in report.rows if r.backend != BASELINE_BACKEND]
    for name in dict.fromkeys(r.model for r in models):
        for size in dict.fromkeys(r.size for r in models if r.model == name):
            best = max((r for r in models if r.model == name and r.size == size), key=lambda r: r.fps)
            ratios = ", ".join(f"{v:.2f}x {k}" for k, v in best.ratios.items())
            lines.append(f"{name} @{size}: fastest on {best.backend} at {best.fps:.1f} fps "
                         f"({best.total.median:.2f} ms/img)" + (f"; {ratios}" if ratios else ""))
    for b in (r for r in report.rows if r.backend == BASELINE_BACKEND):
        lines.append(f"{b.model} ({baseline_runtime(b, report.machine)}): {b.fps:.1f} fps")
    return lines


def load_note(machine: dict) -> str | None:
    """A warning when other work shared the CPU: such timings are not comparable to quiet ones."""
    loads = [v for v in (machine.get("load_average"), machine.get("load_average_end")) if v]
    worst = max((v[0] for v in loads), default=0.0)
    cores = machine.get("physical_cores") or 1
    if worst > cores:
        return (f"note: 1-minute load average reached {worst:.1f} on {cores} cores: other work shared the "
                "CPU, so these timings are noisy; re-measure on a quiet machine for published numbers")
    return None


def print_report(report: Report, out=None) -> None:
    out = out or sys.stdout
    m = report.machine
    print(f"\n{m['cpu']} | {m['physical_cores']} cores ({m['logical_cpus']} logical) | {m['threads']} threads | "
          + " ".join(f"{k} {v}" for k, v in m["versions"].items() if v), file=out)
    if report.rooflines:
        print("\nRoofline (one large conv per backend):\n" + roofline_table(report), file=out)
        print("Peak of this run (best conv of any runtime; a row's '% of peak' divides by its precision's): "
              + ", ".join(f"{p} {g:.1f} GFLOP/s ({b})" for p, (b, g) in report.peaks.items()), file=out)
    if report.rows:
        print("\nLatency per image:\n" + latency_table(report.rows), file=out)
    if any(r.ratios for r in report.rows):
        print("\nSpeed vs baselines (fps / baseline fps):\n" + ratio_table(report.rows), file=out)
    if any(r.video for r in report.rows):
        print("\nVideo, end to end (decode, letterbox, infer, NMS, draw, encode):\n" + video_table(report.rows),
              file=out)
    if any(r.energy for r in report.rows):
        print("\nEnergy per image (timed passes; the counter covers the whole CPU package or board):\n"
              + energy_table([r for r in report.rows if r.energy]), file=out)
        note = energy_note(report.rows)
        if note:
            print(note, file=out)
    published = published_lines(r.model for r in report.rows)
    if published:  # random weights: the speed of these models, next to what their trained weights score
        print("\nPublished accuracy (trained weights; the rows above run random ones):\n  " + "\n  ".join(published),
              file=out)
    for s in report.skipped:
        print(f"skipped: {s['model']} on {s['backend']}" + (f" @{s['size']}" if s["size"] else "")
              + f": {s['reason']}", file=out)
    print("\nSummary:", file=out)
    for line in summary(report):
        print(f"  {line}", file=out)
    note = load_note(m)
    if note:
        print(note, file=out)


def write_json(report: Report, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2))
    return path


def plot(report: Report, path: str | Path) -> Path:
    """Horizontal bars, one row per model/backend: fps (left, value printed, colour = backend) and
    achieved GFLOP/s over the backend's roofline with the share printed (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.rows
    labels = [f"{r.model if r.model.endswith(f'@{r.size}') else f'{r.model}@{r.size}'}  [{r.backend}]" for r in rows]
    colors = {"torch": "tab:red", "onnxruntime": "tab:blue", "onnxruntime-spin": "tab:cyan", "opencv": "tab:green",
              BASELINE_BACKEND: "tab:gray"}
    fig, (ax1, ax2) = plt.subplots(1, 2, sharey=True, figsize=(13, max(3.0, 0.32 * len(rows) + 1.4)))
    y = list(range(len(rows)))
    fps = [r.fps for r in rows]
    ax1.barh(y, fps, color=[colors.get(r.backend, "tab:purple") for r in rows])
    for i, v in zip(y, fps):
        ax1.text(v, i, f" {v:.1f}", va="center", fontsize=7)
    ax1.set_xlim(0, 1.15 * max(fps + [1e-9]))
    ax1.set_xlabel("fps (1000 / median total ms per image)")
    ax1.set_title("Throughput", fontsize=10)
    ax1.set_yticks(y, labels, fontsize=7)
    ax1.invert_yaxis()  # the report's order, top to bottom
    roof = [r.roofline_gflops_s or 0 for r in rows]
    done = [r.achieved_gflops_s or 0 for r in rows]
    ax2.barh(y, roof, color="whitesmoke", edgecolor="gray")
    ax2.barh(y, done, 0.55, color=[colors.get(r.backend, "tab:purple") for r in rows])
    for i, d, c in zip(y, done, roof):
        if c:
            ax2.text(d, i, f" {100 * d / c:.0f}%", va="center", fontsize=7)
    ax2.set_xlabel("GFLOP/s (filled: model; outline: one big 3x3 conv)")
    ax2.set_title("Achieved vs roofline", fontsize=10)
    for ax in (ax1, ax2):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"cspdet bench — {report.machine['cpu']}, {report.machine['threads']} threads", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
