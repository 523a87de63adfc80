"""``VideoPredictor``: one whole video per row, read in order by one actor, so that a tracker
sees its frames in sequence. Ray Data splits the list of videos by file across the actors
(``batch_size=1``); a video is never split, which is what tracking needs and what keeps each
video's results in one place.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ...runtime.pipeline import detect_stream
from ...runtime.results import Results
from ...runtime.sinks import Sink, short_name
from ...runtime.sources import VideoSource
from .columns import HEAVY, PATH, batch_rows, detection_table, input_columns, row_names
from .predictor import actor_detector

PARTIAL = ".partial-"  # prefix of the folders annotated videos are written in before their rename


class VideoPredictor:
    """``ds.map_batches(VideoPredictor, fn_constructor_kwargs=dict(weights=...), batch_size=1,
    compute=ray.data.ActorPoolStrategy(size=N))`` over rows with a ``path`` (a local video file,
    which every node must see) and optionally a ``name``.

    Returns one row per frame kept (every ``vid_stride``-th): the input's light columns, ``frame``
    (the video's own 0-based frame number), the detection lists of ``BatchPredictor`` and, with
    ``tracker`` (``ByteTracker`` keyword arguments; a fresh tracker per video, ``trail``: centres
    drawn per ID), ``track_ids``. A
    video that cannot be opened is one row with a null ``frame`` and its ``error``. ``out_dir``:
    annotated copies go there as ``<name>.mp4``, written under a temporary folder and renamed
    once complete (a killed actor leaves no half video under a real name).
    """

    def __init__(self, weights, *, tracker: dict | None = None, trail: int = 0, vid_stride: int = 1,
                 out_dir: str | None = None, line_width: int | None = None, labels: bool = True, **detector_kwargs):
        if vid_stride < 1:
            raise ValueError(f"VideoPredictor: vid_stride must be at least 1, got {vid_stride}")
        if tracker is not None:
            from ...runtime.tracking import ByteTracker

            ByteTracker(**tracker)  # bad settings fail here, once, not per video
        self.det = actor_detector(weights, detector_kwargs)
        self.tracker, self.trail, self.stride, self.out_dir = tracker, trail, vid_stride, out_dir
        self.line_width, self.labels = line_width, labels

    def __call__(self, batch):
        import pyarrow as pa

        cols = input_columns(batch)
        if PATH not in cols:
            raise ValueError(f"VideoPredictor: a batch needs a '{PATH}' column; got {sorted(cols)}")
        names = row_names(cols, batch_rows(cols), "video")
        tables = [self._video(cols, i, str(path), names[i]) for i, path in enumerate(cols[PATH])]
        return pa.concat_tables(tables, promote_options="default")

    def _video(self, cols, row: int, path: str, name: str):
        """All kept frames of one video -> a table, one row per frame."""
        try:
            if not Path(path).is_file():
                raise ValueError(f"{path}: no such video")
            src = VideoSource(Path(path), self.stride)
        except (ValueError, OSError) as e:
            return self._table(cols, row, [None], [None], [None], [str(e)])
        session = self._session()
        writer = AnnotatedVideo(self.out_dir, name, src.fps / self.stride) if self.out_dir else None
        frames, results, shapes = [], [], []
        try:
            items = detect_stream(self.det, src)
            if session is not None:
                items = session.wrap(items, self.stride)
            for item in items:
                res = item.result
                if writer is not None:
                    writer.write(item.frame, res, res.plot(item.frame.image, self.line_width, self.labels))
                frames.append(item.frame.index * self.stride)
                shapes.append(item.frame.image.shape)
                res.orig_img = None  # a long video's frames must not pile up until the table is built
                results.append(res)
            if writer is not None:
                writer.finish()
        finally:
            src.close()
            if writer is not None:
                writer.discard()
        return self._table(cols, row, frames, results, shapes, [None] * len(frames))

    def _session(self):
        if self.tracker is None:
            return None
        from ...runtime.tracking import ByteTracker, TrackSession

        return TrackSession(ByteTracker(**self.tracker), self.det.names, trail=self.trail)

    def _table(self, cols, row: int, frames: list, results: list[Results | None], shapes: list, errors: list):
        import pyarrow as pa

        n = len(results)
        light = {c: [v[row]] * n for c, v in cols.items() if c not in HEAVY}
        table = detection_table(light, results, errors, tracks=self.tracker is not None, shapes=shapes)
        return table.add_column(len(light), "frame", pa.array(frames, pa.int64()))


class AnnotatedVideo:
    """An annotated copy of one video: ``cspdet detect``'s Sink (which checks the frame count on
    close) writing into a private folder, renamed to ``out_dir/<name>.mp4`` when complete."""

    def __init__(self, out_dir: str, name: str, fps: float):
        self.final = Path(out_dir) / short_name(Path(name)).with_suffix(".mp4")
        self.tmp = Path(out_dir) / f"{PARTIAL}{uuid.uuid4().hex[:12]}"
        self.tmp.mkdir(parents=True)
        self.sink = Sink(self.tmp, save_img=True, fps=fps)

    def write(self, frame, result: Results, annotated) -> None:
        self.sink.write(frame, result, annotated)

    def finish(self) -> None:
        """Close the video and give it its name, unless that name is taken: an existing file is
        never replaced (after a retry it is this video's own complete copy)."""
        self.sink.close()
        written = next(self.tmp.glob("*.mp4"), None)
        if written is not None:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(written, self.final)  # fails on an existing name, unlike a rename
            except FileExistsError:
                pass
            except OSError:  # a filesystem without hard links
                if not self.final.exists():
                    os.replace(written, self.final)

    def discard(self) -> None:
        """Drop the temporary folder (after ``finish``, or with a partial video after a failure)."""
        for writer, _, _ in self.sink.writers.values():
            writer.release()
        self.sink.writers.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)
