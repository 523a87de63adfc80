"""``cspdet track``: ``detect`` plus ByteTrack IDs on a video, a folder of frames, a webcam or a
stream; writes the annotated media, a MOTChallenge file and a per-track summary."""
from __future__ import annotations

from pathlib import Path

from .argtypes import nonnegative_int, positive_int, probability


def add_parser(sub) -> None:
    from .detect import add_detect_args, run

    p = sub.add_parser("track", help="track objects across video frames (ByteTrack IDs, MOT files)",
                       description="Detect and track objects; IDs are drawn in a colour per ID, and the run "
                                   "folder (runs/track/expN) gets tracks/<source>.txt in MOTChallenge format "
                                   "(frame,id,x,y,w,h,conf,-1,-1,-1) and tracks/<source>_summary.csv "
                                   "(id,class,first_frame,last_frame,length). With --vid-stride N the tracker "
                                   "sees every N-th frame: objects move N times as far between its steps "
                                   "(more ID switches on fast objects), --track-buffer counts the frames it "
                                   "sees, and the MOT frame numbers stay those of the video.")
    add_detect_args(p, "runs/track")
    add_tracker_args(p)
    # ByteTrack's second round needs the boxes between the low and the high threshold
    p.set_defaults(run=run, make_tracker=make_tracker, start_tracking=start_tracking, conf_thres=0.1,
                   agnostic_nms=True)


def add_tracker_args(p, mot_file: bool = True) -> None:
    """ByteTrack's flags (``track`` and ``batch --track`` share them; ``mot_file``: the flag that
    shapes ``track``'s MOT file too)."""
    g = p.add_argument_group("tracking (ByteTrack; defaults as ultralytics' bytetrack.yaml)")
    g.add_argument("--track-buffer", type=nonnegative_int, default=30,
                   help="frames a lost track is kept to be found again (default 30)")
    g.add_argument("--track-high-thresh", type=probability, default=0.25,
                   help="score of the boxes matched first; lower ones (down to --track-low-thresh) only "
                        "keep existing tracks alive (default 0.25)")
    g.add_argument("--track-low-thresh", type=probability, default=0.1, help="lowest score used (default 0.1)")
    g.add_argument("--new-track-thresh", type=probability, default=0.25,
                   help="score a box needs to start a track (default 0.25)")
    g.add_argument("--match-thresh", type=probability, default=0.8,
                   help="largest 1 - IoU x score of a first-round match (default 0.8)")
    if mot_file:
        g.add_argument("--min-track-len", type=positive_int, default=1,
                       help="tracks reported in fewer frames are left out of the MOT file and the summary (default 1)")
    g.add_argument("--coast", type=nonnegative_int, default=0,
                   help="keep reporting a track without a match at its predicted box for up to N frames "
                        "(default 0: only matched boxes, as ByteTrack)")
    g.add_argument("--trail", type=nonnegative_int, default=0, help="draw each ID's last N centres (default 0: none)")
    g.add_argument("--class-nms", dest="agnostic_nms", action="store_false",
                   help="NMS per class (default here: across classes, as one object the model gives two "
                        "classes would start two tracks)")


def tracker_kwargs(args) -> dict:
    """``ByteTracker``'s keyword arguments from the tracking flags."""
    return dict(track_buffer=args.track_buffer, high_thresh=args.track_high_thresh, low_thresh=args.track_low_thresh,
                new_thresh=args.new_track_thresh, match_thresh=args.match_thresh, coast=args.coast)


def make_tracker(args):
    """The run's ByteTracker, built before any source is opened or folder made: a missing
    ``[track]`` extra or inconsistent thresholds are a CLIError that leaves nothing behind."""
    from ..runtime.tracking import ByteTracker
    from ..runtime.tracking.assign import require_scipy
    from . import CLIError

    try:
        require_scipy()
        return ByteTracker(**tracker_kwargs(args))
    except (ValueError, ImportError) as e:
        raise CLIError(str(e)) from None


def start_tracking(args, det, src, source: str, run_dir: Path, tracker):
    """The TrackSession of one run."""
    from ..runtime.tracking import TrackSession

    if args.conf_thres > args.track_low_thresh:
        print(f"note: --conf-thres {args.conf_thres:g} is above --track-low-thresh {args.track_low_thresh:g}: "
              "ByteTrack's second round gets fewer low-score boxes")
    seq = getattr(src, "name", None) or Path(source).stem or "source"
    return TrackSession(tracker, det.names, out_dir=run_dir / "tracks", seq=Path(seq).stem,
                        min_len=args.min_track_len, trail=args.trail)
