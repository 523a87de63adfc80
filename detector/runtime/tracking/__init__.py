"""Multi-object tracking over detections: ByteTrack with a batched Kalman filter (``bytetrack``),
IDs on Results, MOTChallenge files and per-track summaries (``session``), drawing (``draw``), and
key-frame tracking that calls the detector only when needed (``keyframes``, ``adaptive``).
Needs scipy (``pip install "cspdet[track]"``), imported on the first frame tracked."""
from .adaptive import AdaptiveTracker
from .bytetrack import ByteTracker, Track, Tracked
from .keyframes import KeyFramePolicy
from .session import TrackSession

__all__ = ["AdaptiveTracker", "ByteTracker", "KeyFramePolicy", "Track", "TrackSession", "Tracked"]
