"""The run behind ``cspdet batch``: list the inputs, join the cluster, stream images (and videos)
through an actor pool of ``BatchPredictor`` (``VideoPredictor``), write the run folder.

The driver consumes the results as they come (``iter_batches``), so the progress bar, the
per-image errors, the annotated images and the final files all live on the machine that
started the run, whatever nodes did the work. The results are small (boxes, not pixels); the
images are read by the actors themselves from their paths or URIs.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .cluster import Pool, connect, fit_pool, quiet_ray_data
from .inputs import Inputs, list_inputs
from .model_files import ModelFiles
from .outputs import ImageOutputs, VideoOutputs, remove_partials
from .predictor import BatchPredictor
from .video import VideoPredictor

MAX_BLOCKS = 10_000  # blocks of the input table: past this, a block holds several batches
ERRORS_SHOWN = 20  # per-image errors printed; all of them are in results.parquet


@dataclass
class Options:
    """What ``cspdet batch`` was asked: ``detector`` holds ``Detector``'s keyword arguments
    (``threads`` included: the threads of each actor)."""

    source: str
    weights: str
    detector: dict = field(default_factory=dict)
    address: str | None = None
    column: str = "path"
    recursive: bool = False
    actors: int | None = None
    batch_size: int | None = None
    gpus_per_actor: float = 0.0
    retries: int = 3
    save_img: bool = False
    line_width: int | None = None
    labels: bool = True
    vid_stride: int = 1
    tracker: dict | None = None
    trail: int = 0
    project: str = "runs/batch"
    name: str = "exp"


@dataclass
class Summary:
    """What a run did; ``interrupted`` holds the Ctrl-C / SIGTERM that stopped it, if one did."""

    images: int = 0
    detections: int = 0
    skipped: int = 0
    duplicates: int = 0
    videos: int = 0
    frames: int = 0
    tracks: int = 0
    seconds: float = 0.0
    first_result_s: float | None = None
    started_at: float = 0.0  # time.perf_counter() when the pipeline started
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (s since start, rows so far)
    pool: Pool | None = None
    run_dir: Path | None = None
    interrupted: KeyboardInterrupt | None = None

    def steady(self) -> tuple[float, float, int]:
        """(from, to, rows): the window from the result that took the run past a tenth of its
        rows to the last one, when every actor has started (they start at once, but finish
        loading their model one after another)."""
        if len(self.arrivals) < 3:
            return 0.0, 0.0, 0
        total = self.arrivals[-1][1]
        start = next(a for a in self.arrivals if a[1] >= total / 10)
        return start[0], self.arrivals[-1][0], total - start[1]

    @property
    def steady_rate(self) -> float:
        """Images/s once every actor runs (``steady``): the pipeline's rate without start-up."""
        start, end, rows = self.steady()
        return rows / (end - start) if rows > 0 and end > start else 0.0

    def line(self) -> str:
        items, unit = (self.images + self.skipped, "images") if self.images or not self.videos else (self.frames,
                                                                                                      "frames")
        rate = items / self.seconds if self.seconds > 0 else 0.0
        parts = [f"{self.images} images, {self.detections} detections, {self.skipped} skipped"]
        if self.videos:
            tracks = f", {self.tracks} tracks" if self.tracks else ""
            parts.append(f"{self.videos} videos, {self.frames} frames{tracks}")
        timing = f"{rate:.1f} {unit}/s over {self.seconds:.1f} s"
        if self.first_result_s is not None and self.steady_rate:
            timing += f" ({self.steady_rate:.1f} once running; first result at {self.first_result_s:.1f} s)"
        parts.append(timing)
        if self.pool is not None:
            parts.append(self.pool.describe())
        return " | ".join(parts)


def driver_detector(opts: Options):
    """The model loaded once on the driver, on its CPU: a bad ``--weights`` or setting fails here
    in one line before any cluster starts, and the names and COCO ids come from it."""
    from ...runtime.predictor import Detector

    kwargs = dict(opts.detector)
    if (kwargs.get("backend") or "") != "tensorrt":
        kwargs["device"] = "cpu"
    return Detector(opts.weights, **kwargs)


def run(opts: Options) -> Summary:
    """Run the job. Ctrl-C (KeyboardInterrupt) stops it with the outputs of the rows received so
    far written, in ``summary.interrupted``. Raises ValueError / FileNotFoundError for bad options."""
    from ...io.files import new_run_dir, remove_if_empty

    det = driver_detector(opts)
    inputs = list_inputs(opts.source, column=opts.column, recursive=opts.recursive)
    conn = connect(opts.address)
    try:
        import ray

        quiet_ray_data()

        pool = fit_pool(ray.cluster_resources(), actors=opts.actors, threads=opts.detector.get("threads"),
                        batch_size=opts.batch_size, gpus=opts.gpus_per_actor, retries=opts.retries)
        # a cluster this run started is this machine: the actors read the weights where they are
        weights = opts.weights if conn.local else (ModelFiles.read(opts.weights, opts.detector.get("cfg"))
                                                   or opts.weights)
        detector = {**opts.detector, "threads": pool.threads}
        if weights is not opts.weights:
            detector.pop("cfg", None)
        run_dir = new_run_dir(opts.project, opts.name)
        summary = Summary(pool=pool, run_dir=run_dir)
        try:
            t0 = summary.started_at = time.perf_counter()
            if inputs.images:
                run_images(opts, inputs, pool, dict(weights=weights, **detector), det, summary)
            if inputs.videos and not summary.interrupted:
                run_videos(opts, inputs, pool, dict(weights=weights, **detector), summary)
            summary.seconds = time.perf_counter() - t0
        except BaseException:
            remove_if_empty(run_dir)
            raise
        if summary.interrupted is not None:
            remove_if_empty(run_dir)  # stopped before the first result: nothing to keep
        return summary
    finally:
        if conn.owned:
            ray.shutdown()


def path_dataset(paths: list[str], names: list[str], rows_per_block: int):
    """Rows (index, path, name) in blocks of ``rows_per_block``: a block is what one actor call
    takes and what Ray re-runs when an actor dies."""
    import ray

    rows = [{"index": i, "path": p, "name": n} for i, (p, n) in enumerate(zip(paths, names))]
    rows_per_block = max(rows_per_block, -(-len(rows) // MAX_BLOCKS))
    # from_items builds the blocks here; from_arrow would start a task per block to read its schema
    return ray.data.from_items(rows, override_num_blocks=-(-len(rows) // rows_per_block))


def image_pipeline(paths: list[str], names: list[str], pool: Pool, predictor: dict):
    """The Ray Data pipeline of ``cspdet batch`` over images (also what the tests run)."""
    return pool.map_batches(path_dataset(paths, names, pool.batch_size), BatchPredictor, predictor)


def consume(ds, add: Callable, bar, summary: Summary, timed: bool = True) -> None:
    """Take the pipeline's tables as they come, in this (the main) thread: Ctrl-C raises here,
    in Ray Data's iterator, whose closing stops the execution and frees the actors, as in any
    Ray script. The interrupt is kept in ``summary`` for the caller to finish the outputs;
    ``timed``: the arrivals go into ``summary.arrivals``."""
    batches = iter(ds.iter_batches(batch_size=None, batch_format="pyarrow"))
    try:
        rows = 0
        for table in batches:
            now = time.perf_counter() - summary.started_at
            rows += table.num_rows
            if timed:
                summary.arrivals.append((now, rows))
            if summary.first_result_s is None:
                summary.first_result_s = now
            add(table)
    except KeyboardInterrupt as e:
        summary.interrupted = e
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        bar.close()


def run_images(opts: Options, inputs: Inputs, pool: Pool, predictor: dict, det, summary: Summary) -> None:
    from tqdm import tqdm

    predictor.update(annotate=opts.save_img, line_width=opts.line_width, labels=opts.labels,
                     infer_batch=pool.batch_size if pool.gpus else 1)  # a GPU gains from whole batches
    ds = image_pipeline(inputs.images, inputs.image_names, pool, predictor)
    outputs = ImageOutputs(summary.run_dir, det.names, det.category_ids)
    bar = tqdm(total=len(inputs.images), desc=f"batch {Path(opts.source).name or opts.source}", unit="image")
    shown = 0

    def add(table) -> None:
        nonlocal shown
        for error in outputs.add(table):
            shown += 1
            if shown <= ERRORS_SHOWN:
                tqdm.write(f"skipped: {error}", file=sys.stderr)
        bar.update(table.num_rows)

    try:
        consume(ds, add, bar, summary)
    finally:
        outputs.close()
        summary.images, summary.detections = outputs.images, outputs.detections
        summary.skipped, summary.duplicates = outputs.skipped, outputs.duplicates
    if shown > ERRORS_SHOWN:
        print(f"... {shown - ERRORS_SHOWN} more skipped images: see the error column of results.parquet",
              file=sys.stderr)


def run_videos(opts: Options, inputs: Inputs, pool: Pool, predictor: dict, summary: Summary) -> None:
    from tqdm import tqdm

    out_dir = summary.run_dir / "videos"
    predictor.update(tracker=opts.tracker, trail=opts.trail, vid_stride=opts.vid_stride, line_width=opts.line_width,
                     labels=opts.labels, out_dir=str(out_dir.absolute()) if opts.save_img else None)
    video_pool = Pool(min(pool.actors, len(inputs.videos)), pool.threads, 1, pool.gpus, pool.retries)
    ds = video_pool.map_batches(path_dataset(inputs.videos, inputs.video_names, 1), VideoPredictor, predictor)
    outputs = VideoOutputs(summary.run_dir)
    bar = tqdm(total=len(inputs.videos), desc="batch videos", unit="video")

    def add(table) -> None:
        for error in outputs.add(table):
            tqdm.write(f"skipped: {error}", file=sys.stderr)
        bar.update(outputs.videos - bar.n)

    try:
        consume(ds, add, bar, summary, timed=False)  # the rate counts images
    finally:
        outputs.close()
        remove_partials(summary.run_dir)
        summary.videos, summary.frames, summary.tracks = outputs.videos, outputs.frames, outputs.tracks
        summary.detections += outputs.detections
        summary.skipped += len(outputs.errors)
