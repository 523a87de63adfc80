"""``cspdet detect``: run a detector over images, folders, videos, webcams and streams."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import DefaultsFormatter
from .argtypes import positive_int
from .common import DEFAULT_SOURCE, add_model_args, add_nms_args, default_weights
from .power import PowerRun, add_power_args
from .tiling import add_tile_args


def add_parser(sub) -> None:
    p = sub.add_parser("detect", aliases=["predict"], help="detect objects in images, folders, videos, webcams, "
                       "streams (alias: predict)",
                       description="Detect objects; outputs go to a new runs/detect/expN folder.",
                       formatter_class=DefaultsFormatter)
    add_detect_args(p, "runs/detect")
    p.set_defaults(run=run)


def add_detect_args(p, project: str) -> None:
    """The flags ``detect`` and ``track`` share."""
    add_model_args(p)
    p.add_argument("--source", default=None,
                   help="image, folder (its videos too), glob, .txt list, video, webcam index (0), rtsp/http URL, "
                        "or the bundled media: demo (the video), demo-images (default: demo-images)")
    add_nms_args(p)
    p.add_argument("--recursive", action="store_true", help="search folders recursively")
    p.add_argument("--vid-stride", type=positive_int, default=1, help="keep every n-th video/stream frame")
    p.add_argument("--streams", type=positive_int, default=1,
                   help="frames inferred at once on CPU (onnxruntime, torch), the threads split between them: 2 "
                        "raises video/folder fps by about a quarter on 2 cores, at some latency per frame (default 1)")
    p.add_argument("--project", default=project, help="parent folder of run folders")
    p.add_argument("--name", default="exp", help="run folder name (exp, exp2, ... never overwritten)")
    p.add_argument("--save-txt", action="store_true", help="save YOLO-format labels")
    p.add_argument("--save-crop", action="store_true", help="save each box cut from the image: crops/<class>/")
    p.add_argument("--save-conf", action="store_true", help="add scores to --save-txt labels")
    p.add_argument("--save-json", action="store_true",
                   help="save COCO results-format predictions.json (COCO's ids: see docs/detect.md; image_ids.json "
                        "names the images whose file stem is not their id)")
    p.add_argument("--nosave", action="store_true", help="do not save annotated images/videos")
    p.add_argument("--show", "--view-img", action="store_true", help="show a live window with an fps overlay (q quits)")
    p.add_argument("--augment", action="store_true",
                   help="test-time augmentation, as yolov5: the image at scales 1, 0.83 and 0.67 (the middle one "
                        "flipped), boxes merged before NMS; about 2-3x the inference time")
    p.add_argument("--line-width", type=positive_int, default=None, help="box line width in pixels")
    p.add_argument("--hide-labels", action="store_true", help="draw boxes without labels")
    add_power_args(p)
    add_tile_args(p)


class Stats:
    """Per-item times; the first call (its runtime's warm-up: allocations, kernel choice) is kept
    apart from the mean of the others, so neither number says what it is not."""

    def __init__(self, unit: str = "image"):
        self.items = self.dets = self.skipped = 0
        self.pre = self.inf = self.post = 0.0
        self.first: tuple[float, float, float] | None = None
        self.unit = unit

    def add(self, pre: float, inf: float, post: float) -> None:
        if self.first is None:
            self.first = (pre, inf, post)
        else:
            self.pre, self.inf, self.post = self.pre + pre, self.inf + inf, self.post + post

    def line(self, wall: float) -> str:
        n = self.items
        head = f"1 {self.unit}" if n == 1 else f"{n} items"
        if self.first is None:
            return f"{head}, {self.skipped} skipped"
        pre, inf, post = self.first
        first = f"first call {pre + inf + post:.1f} ms (includes warm-up; inference {inf:.1f} ms)"
        if n == 1:
            return f"{head}: {first} | {self.dets} detections, {self.skipped} skipped"
        rest = n - 1
        return (f"{head}, {self.dets} detections, {self.skipped} skipped | {first} | mean of the other {rest}: "
                f"pre {self.pre / rest:.1f} ms, inference {self.inf / rest:.1f} ms, post {self.post / rest:.1f} ms | "
                f"{n / wall if wall > 0 else 0:.1f} fps end-to-end")


def run(args) -> int:
    from ..runtime.predictor import Detector
    from ..io.files import new_run_dir, remove_if_empty
    from ..runtime.sinks import Sink
    from ..runtime.sources import open_source
    from .common import detector_kwargs
    from .tiling import tile_kwargs

    if args.show:
        check_display()
    tracking = getattr(args, "start_tracking", None)  # set by ``cspdet track``
    tracker = args.make_tracker(args) if tracking else None  # a missing extra: before any output
    source = args.source or DEFAULT_SOURCE
    src = open_source(source, recursive=args.recursive, vid_stride=args.vid_stride, videos=not tracking)
    run_dir = power = None
    try:
        det = Detector(args.weights or default_weights(), **detector_kwargs(args), **tile_kwargs(args))
        det.check_streams(args.streams)  # before any output folder or progress bar
        saving = tracking or not args.nosave or args.save_txt or args.save_json or args.save_crop
        run_dir = new_run_dir(args.project, args.name) if saving else None
        sink = Sink(run_dir, save_img=not args.nosave, save_txt=args.save_txt, save_conf=args.save_conf,
                    save_json=args.save_json, save_crop=args.save_crop, fps=getattr(src, "fps", 30.0),
                    vid_stride=args.vid_stride) if saving else None
        session = tracking(args, det, src, source, run_dir, tracker) if tracking else None
        power = PowerRun(args, det, src, session)
        stats, wall, stopped = detect_loop(det, src, sink, source, args, session, power)
    except BaseException:
        remove_if_empty(run_dir)
        if power is not None:
            power.stop()
        raise
    finally:
        src.close()
    print(f"{'Interrupted' if stopped else 'Done'}: {stats.line(wall)}")
    for line in power.summary(stats.items):
        print(line)
    if run_dir is not None:
        print(f"Results saved to {run_dir}")
    if stopped is not None:
        raise stopped  # the CLI turns it into exit 130 / 143 after the summary
    return 0


def detect_loop(det, src, sink, source: str, args, session=None, power=None):
    """Run the pipeline into ``sink``; on Ctrl-C/SIGTERM stop reading, finish the writes already
    queued and finalise the outputs. ``session``: a ``TrackSession`` that puts IDs on the results
    and is closed (summary written) however the run ends; ``power``: a ``PowerRun`` (key frames,
    pace). Returns (stats, seconds, the interrupt or None)."""
    from tqdm import tqdm

    from ..runtime.pipeline import Worker, detect_stream
    from . import polled_signals

    with polled_signals() as signals:
        def cancelled() -> bool:
            return signals is not None and signals.received is not None

        writer, video, stopped = Worker(), src.kind != "images", None
        stats = Stats("frame" if video else "image")
        t_start, fps_ema = time.perf_counter(), 0.0
        bar = tqdm(total=len(src) or None, desc=f"detect {Path(source).name or source}",
                   unit="image" if src.kind == "images" else "frame")
        stride = args.vid_stride if video else 1
        items = power.stream(src, stride, cancelled) if power is not None else None
        if items is None:
            items = detect_stream(det, src, streams=args.streams, cancel=cancelled)
            if session is not None:
                items = session.wrap(items, stride)
        if power is not None:
            power.begin(cancelled)
        try:
            for item in items:
                if cancelled():
                    break
                bar.update(1)
                frame, res = item.frame, item.result
                if res is None:
                    stats.skipped += 1
                    tqdm.write(f"skipped: {frame.error}", file=sys.stderr)
                    continue
                stats.items += 1
                stats.dets += len(res)
                stats.add(item.pre_ms, item.inference_ms, item.post_ms)
                if frame.fps is None and len(src) <= 20:  # a line per image helps on small runs, floods big ones
                    warm = ", first call: includes warm-up" if stats.items == 1 else ""
                    tqdm.write(f"{frame.name}: {res.summary()} ({item.inference_ms:.1f} ms{warm})")
                if args.show:
                    rate = 1e3 / max(item.pre_ms + item.inference_ms + item.post_ms, 1e-3)
                    fps_ema = 0.9 * fps_ema + 0.1 * rate if fps_ema else rate
                    if not show(res, fps_ema, args):
                        break
                if sink is not None:
                    writer.submit(lambda f=frame, r=res: sink.write(
                        f, r, None if args.nosave else r.plot(f.image, args.line_width, not args.hide_labels)))
                if power is not None:
                    power.tick()
        except KeyboardInterrupt as e:  # called from Python, outside ``cspdet``: signals raise there
            stopped = e
        finally:
            items.close()  # stop the reader now, not when the generator is collected
            bar.close()
            try:
                writer.close()
            finally:
                if session is not None:
                    tqdm.write(session.close())
                if sink is not None:
                    sink.close()
        if stopped is None and signals is not None:
            stopped = signals.received
    return stats, time.perf_counter() - t_start, stopped


def check_display() -> None:
    """--show needs a window: refuse at the start, not with Qt's abort (exit 134) at the first frame."""
    from ..runtime.display import no_display
    from . import CLIError

    why = no_display()
    if why:
        raise CLIError(f"--show needs {why}; run without --show, the results are saved")


def show(res, fps: float, args) -> bool:
    """Draw into a window; False when the user pressed q or closed it."""
    import cv2

    from ..runtime.draw import draw_fps

    img = draw_fps(res.plot(None, args.line_width, not args.hide_labels), fps)
    cv2.imshow("cspdet", img)
    return (cv2.waitKey(1) & 0xFF) != ord("q")
