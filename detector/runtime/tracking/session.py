"""One tracked sequence: IDs onto each frame's Results, the MOTChallenge file and the summary.

Rows of a track are held back until it has been reported in ``min_len`` frames, then written with
the rows it had so far, so the MOT file and the summary list the same tracks however the run
ends. ``close()`` (which ``cspdet track`` calls also when a stream drops or on Ctrl-C) writes the
summary of every track up to the last frame read.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Iterable, Iterator

from ...io.files import write_bytes
from ..results import Results
from .bytetrack import ByteTracker
from .draw import Trails

SUMMARY_HEADER = "id,class,first_frame,last_frame,length\n"


class TrackSession:
    """``track(result, frame_no)`` per frame in order -> Results with ``ids``; ``close()`` ends it.

    ``out_dir``: where ``<seq>.txt`` (MOT: frame,id,x,y,w,h,conf,-1,-1,-1; frames from 1) and
    ``<seq>_summary.csv`` go (None: keep nothing on disk). ``trail``: centres kept per ID to draw.
    """

    def __init__(self, tracker: ByteTracker, names: list[str], *, out_dir: Path | None = None,
                 seq: str = "video", min_len: int = 1, trail: int = 0):
        if min_len < 1:
            raise ValueError(f"--min-track-len must be at least 1, got {min_len}")
        self.tracker, self.names, self.min_len = tracker, names, min_len
        self.trails = Trails(trail) if trail else None
        self.mot_path = self.summary_path = None
        self.pending: dict[int, list[str]] = {}
        self.mot = None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            self.mot_path, self.summary_path = out_dir / f"{seq}.txt", out_dir / f"{seq}_summary.csv"
            self.mot = open(self.mot_path, "w", encoding="utf-8")

    def track(self, result: Results, frame_no: int) -> Results:
        """This frame's detections -> its tracked boxes (``ids`` set; ``speed['track']`` in ms)."""
        t0 = time.perf_counter()
        out = self.tracker.update(result.xyxy, result.scores, result.class_ids, frame_no)
        return self._emit(out, result, frame_no, t0)

    def propagate(self, image, frame_no: int, path: str | None = None, measure=None) -> Results:
        """A frame the detector skipped -> the tracks at their predicted boxes (``ByteTracker.propagate``;
        ``measure`` corrects them), written and drawn like any other frame."""
        t0 = time.perf_counter()
        out = self.tracker.propagate(frame_no, measure)
        empty = Results(out.xyxy[:0], out.scores[:0], out.class_ids[:0], self.names, image, path)
        return self._emit(out, empty, frame_no, t0)

    def _emit(self, out, result: Results, frame_no: int, t0: float) -> Results:
        trails = self.trails.update(out.xyxy, out.ids) if self.trails else None
        if self.mot is not None:
            self._write(out, frame_no)
        speed = dict(result.speed, track=(time.perf_counter() - t0) * 1e3)
        return dataclasses.replace(result, xyxy=out.xyxy, scores=out.scores, class_ids=out.class_ids,
                                   ids=out.ids, trails=trails, speed=speed)

    def wrap(self, items: Iterable, stride: int = 1) -> Iterator:
        """Track a ``detect_stream`` in order; frame numbers are ``index * stride + 1``, the
        source's own numbering for a video read with ``--vid-stride``."""
        for item in items:
            if item.result is not None:
                item.result = self.track(item.result, item.frame.index * stride + 1)
            yield item

    def _write(self, out, frame_no: int) -> None:
        for (x1, y1, x2, y2), score, tid in zip(out.xyxy.tolist(), out.scores.tolist(), out.ids.tolist()):
            row = f"{frame_no},{tid},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score:.4f},-1,-1,-1\n"
            held = self.pending.get(tid)
            if self.tracker.confirmed[tid].length >= self.min_len:
                if held:
                    self.mot.write("".join(held))
                    del self.pending[tid]
                self.mot.write(row)
            else:
                self.pending.setdefault(tid, []).append(row)

    def summary_rows(self) -> list[tuple[int, str, int, int, int]]:
        """(id, class name, first frame, last frame, frames reported) of each track kept."""
        return [(t.id, self.names[t.label] if 0 <= t.label < len(self.names) else str(t.label),
                 t.first, t.last, t.length) for t in self.tracker.summary(self.min_len)]

    def close(self) -> str:
        """Finish the MOT file, write the summary -> a one-line report."""
        rows = self.summary_rows()
        if self.mot is not None:
            self.mot.close()
            self.mot = None
            write_bytes(self.summary_path, (SUMMARY_HEADER + "".join(f"{','.join(map(str, r))}\n" for r in rows)).encode())
        where = f": {self.mot_path} and {self.summary_path.name}" if self.mot_path else ""
        return f"{len(rows)} tracks of {self.min_len}+ frames{where}"
