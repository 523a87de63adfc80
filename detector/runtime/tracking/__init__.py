"""Multi-object tracking over detections: ByteTrack with a batched Kalman filter (``bytetrack``),
IDs on Results, MOTChallenge files and per-track summaries (``session``), drawing (``draw``).
Needs scipy (``pip install "cspdet[track]"``), imported on the first frame tracked."""
from .bytetrack import ByteTracker, Track, Tracked
from .session import TrackSession

__all__ = ["ByteTracker", "Track", "TrackSession", "Tracked"]
