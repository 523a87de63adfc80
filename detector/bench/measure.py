"""The bench itself: every (model, backend, size) combination and baseline, timed stage by
stage on real-sized images, next to each backend's single-conv roofline."""
from __future__ import annotations

import gc
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..runtime.backends import BENCH_BACKENDS
from .energy import EnergyWindow, open_meter
from .flops import model_gflops
from .roofline import Roofline, RooflineProbe
from .runners import DetectorRunner, Unsupported, make_runner
from .specs import ModelSpec
from .timing import Stat, machine_info, physical_cores

BASELINE_BACKEND = "opencv-darknet"


@dataclass
class BenchConfig:
    """What to run. ``sizes``: None entries mean the model's own size; ``image``: one BGR image
    (H, W, 3), replicated ``batch`` times; ``threads`` None means physical cores."""

    models: list[ModelSpec]
    baselines: list[ModelSpec] = field(default_factory=list)
    backends: list[str] = field(default_factory=lambda: list(BENCH_BACKENDS))
    sizes: list[int | None] = field(default_factory=lambda: [None])
    batch: int = 1
    threads: int | None = None
    runs: int = 50
    warmup: int = 10
    image: np.ndarray | None = None
    video: Path | None = None
    video_frames: int = 100
    video_streams: int = 1
    conf_thres: float = 0.25
    backends_for: dict[str, list[str]] = field(default_factory=dict)
    """A model label -> the backends it runs on, instead of ``backends``."""
    block: int = 0
    """0: each combination's runs back to back. N > 1: every combination timed in turn, N calls at
    a time with the first dropped, in a new shuffled order each round (see ``measure_blocks``)."""
    energy: bool = False
    """Also measure joules (RAPL or tegrastats, ``energy.py``) and process CPU-seconds per image."""


@dataclass
class Row:
    """One measured combination; times are per image (a batch's time / batch)."""

    model: str
    kind: str
    backend: str
    engine: str
    size: int
    batch: int
    pre: Stat
    inference: Stat
    post: Stat
    total: Stat
    gflops: float | None
    detections: float
    roofline_gflops_s: float | None = None
    peak_gflops_s: float | None = None
    first_call_ms: float | None = None
    """The first (warm-up) pass's total ms per image, never in the medians."""
    """The run's measured peak at this row's precision: the best single-conv GFLOP/s of any runtime."""
    ratios: dict[str, float] = field(default_factory=dict)
    video: dict | None = None
    via: str | None = None
    """A baseline's path into OpenCV (``runners.BASELINE_PATHS``); None for other rows."""
    energy: dict | None = None
    """``EnergyReading.to_dict()`` of the timed passes, with ``--energy``."""

    @property
    def fps(self) -> float:
        return 1e3 / self.total.median

    @property
    def inference_fps(self) -> float:
        return 1e3 / self.inference.median

    @property
    def achieved_gflops_s(self) -> float | None:
        return None if self.gflops is None else self.gflops / (self.inference.median / 1e3)

    @property
    def roofline_ratio(self) -> float | None:
        a = self.achieved_gflops_s
        return None if a is None or not self.roofline_gflops_s else a / self.roofline_gflops_s

    @property
    def peak_ratio(self) -> float | None:
        a = self.achieved_gflops_s
        return None if a is None or not self.peak_gflops_s else a / self.peak_gflops_s

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("model", "kind", "backend", "engine", "size", "batch", "gflops",
                                            "detections", "fps", "inference_fps", "achieved_gflops_s",
                                            "roofline_gflops_s", "roofline_ratio", "peak_gflops_s", "peak_ratio",
                                            "first_call_ms", "ratios", "video", "via", "energy")}
        d["ms"] = {k: getattr(self, k).to_dict() for k in ("pre", "inference", "post", "total")}
        return d


@dataclass
class Report:
    machine: dict
    settings: dict
    rooflines: dict[str, Roofline]
    rows: list[Row]
    skipped: list[dict]

    @property
    def peaks(self) -> dict[str, tuple[str, float]]:
        """Per precision (f32, half), the runtime with the best single-conv GFLOP/s of this run and
        that figure: the machine's measured peak that every row's "% of peak" divides by."""
        best: dict[str, tuple[str, float]] = {}
        for name, roof in self.rooflines.items():
            p = precision_of(name)
            if p not in best or roof.gflops_per_s > best[p][1]:
                best[p] = (name, roof.gflops_per_s)
        return best

    def to_dict(self) -> dict:
        return {"machine": self.machine, "settings": self.settings,
                "peaks": {p: {"backend": b, "gflops_per_s": g} for p, (b, g) in self.peaks.items()},
                "rooflines": {k: r.to_dict() for k, r in self.rooflines.items()},
                "rows": [r.to_dict() for r in self.rows], "skipped": self.skipped}


def precision_of(backend: str) -> str:
    """``half`` for the bench variants that run bf16/f16 (``*-half``), else ``f32``."""
    return "half" if backend.endswith("-half") else "f32"


def synthetic_frame(hw: tuple[int, int] = (720, 1280), seed: int = 0) -> np.ndarray:
    """A 720p BGR picture of textured background and shapes: letterboxing a real-sized frame is
    part of the cost being measured."""
    from ..data.synthetic import DEFAULT_CLASSES, synthetic_image

    return synthetic_image(np.random.default_rng(seed), hw, DEFAULT_CLASSES, (3, 6))[0]


def time_once(runner, images: list[np.ndarray]) -> tuple[dict[str, float], int]:
    """One pass: ({pre, inference, post, total: ms per image}, detections)."""
    n = len(images)
    t0 = time.perf_counter()
    blob, infos = runner.preprocess(images)
    t1 = time.perf_counter()
    out = runner.infer(blob)
    t2 = time.perf_counter()
    count = runner.postprocess(out, infos, images)
    t3 = time.perf_counter()
    return {"pre": (t1 - t0) * 1e3 / n, "inference": (t2 - t1) * 1e3 / n, "post": (t3 - t2) * 1e3 / n,
            "total": (t3 - t0) * 1e3 / n}, count


def time_pipeline(runner, images: list[np.ndarray], runs: int, warmup: int,
                  tick: Callable[[], None] | None = None, window=None) -> tuple[dict[str, Stat], float]:
    """Pre, inference, post and total per image over ``runs`` timed passes -> (stats, mean
    detections per image); ``stats["first"]``: the very first pass's total, warm-up included,
    kept apart from the others. ``window``: an ``EnergyWindow`` open over the timed passes."""
    ms: dict[str, list[float]] = {"pre": [], "inference": [], "post": [], "total": [], "first": []}
    dets = []
    for i in range(warmup + runs):
        if window is not None and i == warmup:
            window.open()
        times, count = time_once(runner, images)
        if i == 0:
            ms["first"].append(times["total"])
        if i >= warmup:
            for key, dt in times.items():
                ms[key].append(dt)
            dets.append(count / len(images))
        if tick:
            tick()
    ms["first"] = ms["first"] if warmup else []  # without warm-up the first pass is in the means
    if window is not None:
        window.close(runs * len(images))
    return {k: Stat.of(v) for k, v in ms.items() if v or k != "first"}, float(np.mean(dets))


def combinations(cfg: BenchConfig) -> list[tuple[ModelSpec, str, int | None]]:
    """(spec, backend, size) in report order: models x sizes x backends, then the baselines."""
    combos = []
    for spec in cfg.models:
        for size in ([spec.size] if spec.size else cfg.sizes):
            combos += [(spec, backend, size) for backend in cfg.backends_for.get(spec.label, cfg.backends)]
    return combos + [(b, BASELINE_BACKEND, b.size) for b in cfg.baselines]


def make_row(cfg: BenchConfig, spec: ModelSpec, backend: str, runner, stats: dict[str, Stat], dets: float) -> Row:
    row = Row(spec.label, spec.kind, backend, runner.engine, runner.size, cfg.batch, stats["pre"],
              stats["inference"], stats["post"], stats["total"], model_gflops(spec, runner.size), dets,
              via=getattr(runner, "via", None))
    row.first_call_ms = stats["first"].median if "first" in stats else None
    if cfg.video is not None and isinstance(runner, DetectorRunner):
        from .stream import video_e2e

        streams = cfg.video_streams if runner.detector.can_stream else 1  # the row records which
        row.video = video_e2e(runner.detector, cfg.video, cfg.video_frames, streams=streams)
        row.video["ratio"] = row.video["e2e_fps"] / row.inference_fps
    return row


def measure_one(cfg: BenchConfig, spec: ModelSpec, backend: str, size: int | None, images, tick, meter) -> Row:
    runner = make_runner(spec, backend, size, cfg.batch, cfg.threads, cfg.conf_thres)
    window = EnergyWindow(*meter) if cfg.energy else None
    try:
        stats, dets = time_pipeline(runner, images, cfg.runs, cfg.warmup, tick, window)
        row = make_row(cfg, spec, backend, runner, stats, dets)
        row.energy = window.reading().to_dict() if window else None
        return row
    finally:
        del runner
        gc.collect()  # drop sessions and their thread pools before timing the next one


def skip(skipped: list[dict], spec: ModelSpec, backend: str, size: int | None, e: Exception | str) -> None:
    """Record why a combination did not run; a failure (not a known limit) is also printed."""
    from tqdm import tqdm

    reason = e if isinstance(e, str) else one_line(e)
    skipped.append({"model": spec.label, "backend": backend, "size": size, "reason": reason})
    if isinstance(e, Exception) and not isinstance(e, Unsupported):
        tqdm.write(f"skipped {spec.label} on {backend}: {reason}")


def sequential_counts(cfg: BenchConfig) -> tuple[int, int, int]:
    """Calls per combination, roofline samples before each, and roofline samples at the end."""
    return cfg.runs + cfg.warmup, max(3, cfg.runs // 5), cfg.runs // 2 or 1


def measure_sequential(cfg: BenchConfig, combos, images, probes: dict, missing: dict[str, str], bar,
                       skipped: list[dict], meter=(None, None)) -> list[Row]:
    """Each combination's runs back to back, its backend's roofline probe sampled before it and
    once more at the end, one runner built at a time."""
    per, between, last = sequential_counts(cfg)
    rows = []
    for spec, backend, size in combos:
        done = bar.n
        if backend in missing:
            skip(skipped, spec, backend, size, missing[backend])
            bar.update(per + between)
            continue
        probes["opencv" if backend == BASELINE_BACKEND else backend].sample(between, 0, bar.update)
        bar.set_description(f"{spec.label} {backend}" + (f" @{size}" if size else ""))
        try:
            rows.append(measure_one(cfg, spec, backend, size, images, bar.update, meter))
        except Exception as e:  # one backend failing on one model must not end a long run
            skip(skipped, spec, backend, size, e)
            bar.update(per + between - (bar.n - done))
    for engine, probe in probes.items():
        bar.set_description(f"roofline {engine}")
        probe.sample(last, 0, bar.update)
    return rows


def block_rounds(cfg: BenchConfig) -> int:
    """Rounds of ``cfg.block`` calls (the first dropped) that give each combination ``cfg.runs`` samples."""
    return -(-cfg.runs // (cfg.block - 1))


def measure_blocks(cfg: BenchConfig, combos, images, probes: dict, missing: dict[str, str], bar,
                   skipped: list[dict], meter=(None, None)) -> list[Row]:
    """Every combination and roofline probe timed in turn, ``cfg.block`` calls at a time, in a new
    shuffled order each round. A busy spell of the machine then slows every variant alike rather
    than whichever ran at that moment, and dropping each block's first call drops the one slowed
    by the previous runtime's threads still spinning (call-by-call alternation is biased by up to
    1.7x by that). All runners stay built for the whole run."""
    keep, rounds = cfg.block - 1, block_rounds(cfg)
    live: dict[int, tuple] = {}
    for i, (spec, backend, size) in enumerate(combos):
        if backend in missing:
            skip(skipped, spec, backend, size, missing[backend])
            bar.update(cfg.warmup + rounds * cfg.block)
            continue
        bar.set_description(f"build {spec.label} {backend}")
        try:
            runner = make_runner(spec, backend, size, cfg.batch, cfg.threads, cfg.conf_thres)
            first: list[float] = []
            for _ in range(cfg.warmup):
                total = time_once(runner, images)[0]["total"]
                first = first or [total]
                bar.update()
        except Exception as e:  # one backend failing on one model must not end a long run
            skip(skipped, spec, backend, size, e)
            bar.update(cfg.warmup + rounds * cfg.block)
            continue
        live[i] = (runner, {"pre": [], "inference": [], "post": [], "total": [], "first": first}, [],
                   EnergyWindow(*meter))
    rng = random.Random(0)
    bar.set_description(f"{len(live)} variants in blocks of {cfg.block}")
    for _ in range(rounds):
        order: list = [*live, *probes]
        rng.shuffle(order)
        for key in order:
            if isinstance(key, str):
                probes[key].sample(keep, 1, bar.update)
                continue
            if key not in live:
                continue
            runner, ms, dets, window = live[key]
            try:
                window.open()
                for j in range(cfg.block):
                    times, count = time_once(runner, images)
                    bar.update()
                    if j:
                        for k, v in times.items():
                            ms[k].append(v)
                        dets.append(count / len(images))
                window.close(cfg.block * len(images))
            except Exception as e:
                skip(skipped, *combos[key], e)
                del live[key]
    rows = []
    for key, (runner, ms, dets, window) in live.items():
        spec, backend, _ = combos[key]
        bar.set_description(f"video {spec.label} {backend}" if cfg.video else "rows")
        stats = {k: Stat.of(v) for k, v in ms.items() if v or k != "first"}
        rows.append(make_row(cfg, spec, backend, runner, stats, float(np.mean(dets))))
        rows[-1].energy = window.reading().to_dict() if cfg.energy else None
    live.clear()
    gc.collect()
    return rows


def one_line(e: Exception, limit: int = 240) -> str:
    """An exception as one line (OpenCV's errors span several: path, function, then the cause)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def add_ratios(rows: list[Row]) -> None:
    """Each model row's fps / each baseline's fps (the paper's 'x times faster')."""
    baselines = [r for r in rows if r.backend == BASELINE_BACKEND]
    for r in rows:
        if r.backend != BASELINE_BACKEND:
            r.ratios = {b.model: r.fps / b.fps for b in baselines}


def set_threads(threads: int) -> None:
    """One thread count for every library: letterboxing (OpenCV) is timed for torch rows too."""
    import cv2
    import torch

    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)


def _settings(cfg: BenchConfig, image: np.ndarray) -> dict:
    return {"backends": cfg.backends, "sizes": cfg.sizes, "batch": cfg.batch, "threads": cfg.threads,
            "runs": cfg.runs, "warmup": cfg.warmup, "image_shape": list(image.shape), "conf_thres": cfg.conf_thres,
            "video": str(cfg.video) if cfg.video else None, "video_frames": cfg.video_frames,
            "video_streams": cfg.video_streams, "block": cfg.block, "energy": cfg.energy,
            "models": [m.label for m in cfg.models], "baselines": [b.label for b in cfg.baselines]}


def start_probes(engines: list[str], cfg: BenchConfig, bar, unused: int) -> tuple[dict, dict[str, str]]:
    """A sampled RooflineProbe per engine, and {engine: why not} for one that cannot run here: an
    optional runtime not installed, or ``--half`` on a CPU without it (its rows are skipped, not the
    run ended; ``unused`` ticks of ``bar`` go with it)."""
    probes, missing = {}, {}
    for engine in engines:
        bar.set_description(f"roofline {engine}")
        try:
            probes[engine] = RooflineProbe(engine, cfg.threads)
        except (ImportError, ValueError) as e:
            missing[engine] = one_line(e)
            bar.update(unused)
            continue
        if cfg.runs:
            probes[engine].sample(cfg.runs, cfg.warmup, bar.update)
        else:  # blocks: warmed here, sampled with the models (measure_blocks)
            for _ in range(cfg.warmup):
                probes[engine].fn()
                bar.update()
    return probes, missing


def run_bench(cfg: BenchConfig, progress: bool = True) -> Report:
    """Measure every combination of ``cfg``; a combination that cannot run is reported in
    ``Report.skipped`` with its reason instead of ending the run."""
    from tqdm import tqdm

    cfg = replace(cfg, threads=cfg.threads or physical_cores())
    set_threads(cfg.threads)
    image = cfg.image if cfg.image is not None else synthetic_frame()
    combos = combinations(cfg)
    engines = list(dict.fromkeys([*cfg.backends, *(b for bs in cfg.backends_for.values() for b in bs),
                                  *(["opencv"] if cfg.baselines else [])]))
    per, between, last = sequential_counts(cfg)
    if cfg.block:
        if cfg.block < 2:
            raise ValueError(f"block {cfg.block}: needs 2 or more calls (the first of each is dropped)")
        blocks = block_rounds(cfg) * cfg.block
        total = (cfg.warmup + blocks) * (len(engines) + len(combos))
    else:
        total = (per + last) * len(engines) + (per + between) * len(combos)
    machine = machine_info(cfg.threads)
    bar = tqdm(total=total, desc="bench", unit="run", disable=not progress)
    skipped: list[dict] = []
    images = [image] * cfg.batch
    meter = open_meter() if cfg.energy else (None, None)
    try:
        if cfg.block:
            probes, missing = start_probes(engines, replace(cfg, runs=0), bar, cfg.warmup + blocks)
            rows = measure_blocks(cfg, combos, images, probes, missing, bar, skipped, meter)
        else:
            probes, missing = start_probes(engines, cfg, bar, per + last)
            rows = measure_sequential(cfg, combos, images, probes, missing, bar, skipped, meter)
    finally:
        bar.close()
        if meter[0] is not None:
            meter[0].stop()
    rooflines = {engine: probe.result() for engine, probe in probes.items()}
    report = Report(machine, _settings(cfg, image), rooflines, rows, skipped)
    peaks = report.peaks
    for row in rows:
        row.roofline_gflops_s = rooflines[row.engine].gflops_per_s
        row.peak_gflops_s = peaks.get(precision_of(row.engine), (None, None))[1]
    add_ratios(rows)
    machine["load_average_end"] = machine_info(cfg.threads)["load_average"]
    return report
