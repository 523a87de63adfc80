"""The pipelined detection loop over a stream of frames, and its end-to-end measurement.

``video_e2e`` times ``runtime.pipeline.detect_stream``, the very loop ``cspdet detect`` runs: the
next frame is read and letterboxed in a background thread while the current one is inferred;
drawing and encoding go to a ``Worker``.
"""
from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

from ..runtime.pipeline import StreamItem, Worker, detect_stream  # noqa: F401  (re-exported)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def video_e2e(det, video: str | Path, max_frames: int | None = None, out_dir: str | Path | None = None,
              streams: int = 1) -> dict:
    """Decode -> letterbox -> infer -> NMS -> draw -> encode ``video`` (at most ``max_frames``)
    to an mp4 in a temp folder, as ``cspdet detect --streams`` would; returns frames, streams,
    wall seconds, end-to-end fps and the mean per-stage milliseconds measured inside the loop."""
    import cv2

    from ..runtime.sources import VideoSource

    src = VideoSource(Path(video))
    tmp = tempfile.TemporaryDirectory(prefix="cspdet-bench-video-") if out_dir is None else None
    out_path = Path(tmp.name if tmp else out_dir) / "bench.mp4"
    writer, vw, times = Worker(), None, []  # times only: holding 720p frames would cost GBs

    def draw_and_encode(item: StreamItem) -> None:
        nonlocal vw
        img = item.result.plot(item.frame.image)
        if vw is None:
            h, w = img.shape[:2]
            vw = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), src.fps, (w, h))
        vw.write(img)

    t0 = time.perf_counter()
    try:
        for item in detect_stream(det, itertools.islice(src, max_frames), streams=streams):
            if item.result is not None:
                times.append((item.pre_ms, item.inference_ms, item.post_ms))
                writer.submit(lambda it=item: draw_and_encode(it))
    finally:
        src.close()
        writer.close()  # waits for the last frames to be drawn and encoded: part of the wall time
        wall = time.perf_counter() - t0
        if vw is not None:
            vw.release()
        if tmp is not None:
            tmp.cleanup()
    if not times:
        raise ValueError(f"--video {video}: no frames could be read")
    pre, inf, post = (_mean(list(col)) for col in zip(*times))
    return {"frames": len(times), "streams": streams, "wall_s": wall, "e2e_fps": len(times) / wall,
            "pre_ms": pre, "inference_ms": inf, "post_ms": post}
