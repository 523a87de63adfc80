"""The power flags ``detect`` and ``track`` share: key-frame detection on video (``--adaptive``)
and a frame-rate cap (``--max-fps``), with the summary lines that say what they saved."""
from __future__ import annotations

from .argtypes import img_size, positive_float, positive_int


def add_power_args(p) -> None:
    g = p.add_argument_group("power (docs/power.md)")
    g.add_argument("--adaptive", action="store_true",
                   help="video: run the detector on key frames only and move the tracks by their Kalman "
                        "prediction (and optical flow) in between; a key frame comes every --key-interval frames, "
                        "when a track grows uncertain, on a scene change and on motion outside the tracks")
    g.add_argument("--key-interval", type=positive_int, default=6,
                   help="with --adaptive: the most frames between detector calls (default 6)")
    g.add_argument("--key-uncertainty", type=positive_float, default=0.2,
                   help="with --adaptive: a track whose predicted centre has a standard deviation above this "
                        "share of its height asks for a key frame (default 0.2)")
    g.add_argument("--no-flow", dest="flow", action="store_false",
                   help="with --adaptive: do not correct propagated boxes by sparse optical flow")
    g.add_argument("--adaptive-size", type=img_size, default=None, metavar="N",
                   help="with --adaptive on a .pt/.yaml/.cfg model: run key frames at size N while every tracked "
                        "object stays at least 32 px there; a new or moving object brings the full size back")
    g.add_argument("--max-fps", type=positive_float, default=None, metavar="N",
                   help="process at most N frames per second, sleeping in between (never spinning); the summary "
                        "gives the duty cycle")


class PowerRun:
    """What ``--adaptive`` and ``--max-fps`` add to one ``detect``/``track`` run: the key-frame
    stream, the pacer, and an energy window over the loop. ``active`` is False when neither is set."""

    def __init__(self, args, det, src, session):
        from ..runtime.pacing import Pacer
        from . import CLIError

        self.args, self.det = args, det
        self.active = bool(args.adaptive or args.max_fps)
        self.adaptive = self.pacer = self.window = None
        if not self.active:
            return
        if args.adaptive:
            if session is None and src.kind == "images":
                raise CLIError("--adaptive needs frames in order: a video, a stream or a webcam (for a folder of "
                               "frames use cspdet track --adaptive)")
            if args.streams > 1:
                raise CLIError("--adaptive runs frames one after the other; drop --streams")
            self.adaptive = self._tracker(session)
        self.session = session if session is not None else (self.adaptive.session if self.adaptive else None)
        self.pacer = Pacer(args.max_fps)
        from ..bench.energy import EnergyWindow, open_meter

        self.window = EnergyWindow(*open_meter())

    def _tracker(self, session):
        from ..runtime.tracking import ByteTracker, TrackSession
        from ..runtime.tracking.adaptive import AdaptiveTracker
        from ..runtime.tracking.assign import require_scipy
        from ..runtime.tracking.keyframes import KeyFramePolicy
        from . import CLIError

        a = self.args
        try:
            if session is None:  # detect --adaptive: the tracker only carries boxes between key frames
                require_scipy()
                session = TrackSession(ByteTracker(), self.det.names)
            return AdaptiveTracker(self.det, session,
                                   KeyFramePolicy(interval=a.key_interval, max_uncertainty=a.key_uncertainty),
                                   flow=a.flow, small_size=a.adaptive_size)
        except (ValueError, ImportError) as e:
            raise CLIError(str(e)) from None

    def stream(self, src, stride: int, cancel):
        """The frames' StreamItems, tracked: key-frame detection when ``--adaptive``, else None."""
        from ..runtime.tracking.adaptive import adaptive_stream

        return adaptive_stream(self.adaptive, src, stride, cancel=cancel) if self.adaptive else None

    def begin(self, cancel) -> None:
        if self.active:
            self.pacer.cancel = cancel
            self.pacer.begin()
            self.window.open()

    def tick(self) -> None:
        """After each frame: keep to ``--max-fps``."""
        if self.active:
            self.pacer.wait()

    def stop(self) -> None:
        """End the power meter (a tegrastats child process), however the run ends."""
        if self.window is not None and self.window.meter is not None:
            self.window.meter.stop()

    def summary(self, frames: int) -> list[str]:
        """The lines after ``Done:``: detector calls saved, CPU and energy per frame, duty cycle."""
        if not self.active:
            return []
        self.window.close(frames)
        self.stop()
        lines = [self.adaptive.stats.line()] if self.adaptive else []
        lines.append(self.window.reading().line())
        if self.pacer.period:
            lines.append(self.pacer.line())
        return lines
