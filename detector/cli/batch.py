"""``cspdet batch``: detection over image folders, lists and tables (and lists of videos) on a Ray
cluster, through Ray Data; outputs go to a new runs/batch/expN folder.

A command of its own rather than ``detect --ray``: its inputs (Parquet/CSV columns, URIs), its
options (actors, batch size, cluster address, retries) and its outputs (a Parquet table) are a
data pipeline's, and ``detect``'s live-media flags (--show, --streams, webcams) have no meaning
on a cluster.
"""
from __future__ import annotations

import sys

from . import DefaultsFormatter
from .argtypes import int_at_least, nonnegative_float, positive_int


def add_parser(sub) -> None:
    from .common import add_model_args, add_nms_args
    from .track import add_tracker_args

    p = sub.add_parser("batch", help="detect on a Ray cluster: folders, lists, Parquet/CSV columns of paths or URIs",
                       description="Detect objects on a Ray cluster (Ray Data, one model per actor; install with "
                                   "pip install 'cspdet[ray]'). Writes results.parquet (one row per image), "
                                   "predictions.json (COCO ids as detect --save-json) and, per video, "
                                   "videos/<name>.parquet into runs/batch/expN. See docs/ray.md.",
                       formatter_class=DefaultsFormatter)
    p.add_argument("--source", required=True,
                   help="folder, glob, .txt list, or a .parquet/.csv file (or folder) whose --column holds paths "
                        "or URIs (s3://, gs://, file://); video files are detected whole, one per actor")
    p.add_argument("--column", default="path", help="the column of paths or URIs in a Parquet/CSV --source")
    p.add_argument("--recursive", action="store_true", help="search folders recursively")
    g = p.add_argument_group("cluster")
    g.add_argument("--address", default=None,
                   help="Ray cluster to join: host:port of its head, ray://host:port or 'auto' (default: "
                        "$RAY_ADDRESS, else a local cluster on this machine's cores)")
    g.add_argument("--actors", type=positive_int, default=None,
                   help="models running at once (default: the cluster's CPUs / --threads, or its GPUs / "
                        "--gpus-per-actor)")
    g.add_argument("--batch-size", type=positive_int, default=None,
                   help="images per actor call, and per retry after a failure (default: 16; 64 with GPUs)")
    g.add_argument("--gpus-per-actor", type=nonnegative_float, default=0.0, help="GPUs each actor reserves")
    g.add_argument("--retries", type=int_at_least(-1), default=3,
                   help="restarts of a dead actor, and retries of the batches it held (-1: no limit)")
    add_model_args(p)
    add_nms_args(p)
    p.set_defaults(conf_thres=None, agnostic_nms=None)  # their defaults depend on --track (see run)
    o = p.add_argument_group("outputs")
    o.add_argument("--project", default="runs/batch", help="parent folder of run folders")
    o.add_argument("--name", default="exp", help="run folder name (exp, exp2, ... never overwritten)")
    o.add_argument("--save-img", action="store_true", help="save annotated images and videos")
    o.add_argument("--line-width", type=positive_int, default=None, help="box line width in pixels")
    o.add_argument("--hide-labels", action="store_true", help="draw boxes without labels")
    v = p.add_argument_group("videos")
    v.add_argument("--vid-stride", type=positive_int, default=1, help="keep every n-th video frame")
    v.add_argument("--track", action="store_true",
                   help="track objects in each video (ByteTrack; --conf-thres then defaults to 0.1 and NMS runs "
                        "across classes, as in cspdet track)")
    add_tracker_args(p, mot_file=False)
    p.set_defaults(run=run)


def options(args):
    """The job's Options from the parsed flags."""
    from ..integrations.ray.job import Options
    from .common import default_weights, detector_kwargs
    from .track import tracker_kwargs

    if args.conf_thres is None:
        args.conf_thres = 0.1 if args.track else 0.25
    if args.agnostic_nms is None:
        args.agnostic_nms = args.track
    return Options(source=args.source, weights=args.weights or default_weights(), detector=detector_kwargs(args),
                   address=args.address, column=args.column, recursive=args.recursive, actors=args.actors,
                   batch_size=args.batch_size, gpus_per_actor=args.gpus_per_actor, retries=args.retries,
                   save_img=args.save_img, line_width=args.line_width, labels=not args.hide_labels,
                   vid_stride=args.vid_stride, tracker=tracker_kwargs(args) if args.track else None, trail=args.trail,
                   project=args.project, name=args.name)


def run(args) -> int:
    import importlib.util

    from . import CLIError

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None:
        raise CLIError("cspdet batch needs Ray Data, which is not installed: pip install 'cspdet[ray]'")
    from ..integrations.ray import job

    summary = job.run(options(args))
    print(f"{'Interrupted' if summary.interrupted else 'Done'}: {summary.line()}")
    if summary.duplicates:
        print(f"warning: {summary.duplicates} rows came twice from the cluster and were kept once", file=sys.stderr)
    print(f"Results saved to {summary.run_dir}" if summary.run_dir.is_dir() else "Nothing saved")
    if summary.interrupted is not None:
        raise summary.interrupted  # the CLI turns it into exit 130 / 143 after the summary
    return 0
