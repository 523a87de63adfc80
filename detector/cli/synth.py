"""``cspdet synth``: write the project's generated shapes dataset (YOLO layout + data.yaml), so
training, validation and export can be tried end to end offline in minutes."""
from __future__ import annotations

from .argtypes import img_size, int_at_least, nonnegative_int, positive_float


def add_parser(sub) -> None:
    from ..data.synthetic_defaults import DEFAULT_CLASSES, MAX_OBJECTS, RECIPE, SHAPES

    p = sub.add_parser("synth", help="generate a shapes dataset to train on (offline, seeded)",
                       description="Write OUT/images/{train,val}, OUT/labels/{train,val} and OUT/data.yaml: "
                                   "filled shapes in random colours, sizes and rotations on textured "
                                   "backgrounds. The same arguments give the same bytes; the defaults give "
                                   "the data the bundled model was trained and scored on (weights/README.md).")
    p.add_argument("out", help="dataset folder (must be new or empty)")
    p.add_argument("--train", type=nonnegative_int, default=RECIPE["train"],
                   help=f"training images (default: {RECIPE['train']})")
    p.add_argument("--val", type=nonnegative_int, default=RECIPE["val"],
                   help=f"validation images (default: {RECIPE['val']})")
    p.add_argument("--img-size", type=img_size, nargs="+", default=None, metavar="N",
                   help=f"image H W, or one N for square (default: {RECIPE['img_size'][0]}; with --videos 128 "
                        "192, where the shipped model tracks at --img-size 128; the demo media are 360 640)")
    p.add_argument("--classes", nargs="+", default=list(DEFAULT_CLASSES), choices=SHAPES, metavar="SHAPE",
                   help=f"shape classes from {', '.join(SHAPES)} (default: {' '.join(DEFAULT_CLASSES)})")
    p.add_argument("--objects", type=int_at_least(0, MAX_OBJECTS), nargs=2, default=list(RECIPE["objects"]),
                   metavar=("MIN", "MAX"), help=f"objects per image, at most {MAX_OBJECTS} (default: "
                                                f"{RECIPE['objects'][0]} {RECIPE['objects'][1]})")
    p.add_argument("--sizes", type=positive_float, nargs=2, default=list(RECIPE["sizes"]), metavar=("MIN", "MAX"),
                   help=f"object extent in px per 256 px of the image's short side (default: {RECIPE['sizes'][0]} "
                        f"{RECIPE['sizes'][1]})")
    p.add_argument("--sizes-px", type=positive_float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="object extent in px, whatever the image size (instead of --sizes): small objects "
                        "in large images, e.g. --img-size 2160 3840 --sizes-px 12 40 --objects 30 60 for tiling")
    p.add_argument("--seed", type=int, default=RECIPE["seed"])
    v = p.add_argument_group("tracking clips (instead of the image dataset)")
    v.add_argument("--videos", type=nonnegative_int, default=0,
                   help="write N clips OUT/track_NNN.avi of shapes that move, cross and pass behind a pillar, "
                        "each with MOTChallenge ground truth OUT/track_NNN.txt (frame,id,x,y,w,h,1,class,"
                        "visibility; objects at least half visible)")
    v.add_argument("--frames", type=nonnegative_int, default=120, help="frames per clip (default: 120)")
    v.add_argument("--video-objects", type=nonnegative_int, default=4, help="objects per clip (default: 4)")
    v.add_argument("--stop-go", action="store_true",
                   help="objects beyond the crossing pair alternate moving and standing still")
    v.add_argument("--entering", type=nonnegative_int, default=0,
                   help="N more objects per clip come in through a border later and leave through the opposite one")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from ..data.synthetic import make_synthetic_dataset
    from . import CLIError

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CLIError(f"{out}: exists and is not an empty folder; choose a new one (nothing is overwritten)")
    args.img_size = resolved_size(args)
    if len(args.img_size) not in (1, 2) or min(args.img_size) < 32:
        raise CLIError(f"--img-size {args.img_size}: give N or H W, each >= 32")
    if args.train < 1 or args.val < 1 or not 1 <= args.objects[0] <= args.objects[1]:
        raise CLIError("--train and --val must be >= 1 and --objects MIN MAX with 1 <= MIN <= MAX")
    hw = args.img_size * 2 if len(args.img_size) == 1 else args.img_size
    if args.sizes_px is not None:
        if not 2 < args.sizes_px[0] <= args.sizes_px[1] <= min(hw):
            raise CLIError(f"--sizes-px {args.sizes_px[0]:g} {args.sizes_px[1]:g}: need 2 < MIN <= MAX <= the "
                           f"image's short side {min(hw)}")
    elif not 0 < args.sizes[0] <= args.sizes[1] <= 256:
        raise CLIError(f"--sizes {args.sizes[0]:g} {args.sizes[1]:g}: need 0 < MIN <= MAX <= 256 (px per 256 px of "
                       "the short side: 256 is an object as large as the image)")
    if args.videos:
        return write_videos(out, args, hw)
    bar = tqdm(total=args.train + args.val, desc="synth", unit="img")
    yaml_path = make_synthetic_dataset(out, args.train, args.val, img_size=tuple(hw), seed=args.seed,
                                       classes=args.classes, objects=tuple(args.objects),
                                       sizes=tuple(args.sizes_px or args.sizes), progress=bar.update,
                                       absolute=args.sizes_px is not None)
    bar.close()
    print(f"{args.train} train + {args.val} val images ({hw[0]}x{hw[1]}, classes {', '.join(args.classes)}) "
          f"in {out}; train with: cspdet train --data {yaml_path}")
    return 0


def resolved_size(args) -> list[int]:
    """``--img-size`` as given, else the recipe's (128), or 128 192 for ``--videos``."""
    from ..data.synthetic_defaults import RECIPE

    return args.img_size or ([128, 192] if args.videos else list(RECIPE["img_size"]))


def write_videos(out, args, hw) -> int:
    from ..data.synthetic_tracks import make_tracking_videos
    from . import CLIError

    if args.frames < 1 or not 2 <= args.video_objects <= 20:
        raise CLIError("--frames must be >= 1 and --video-objects 2..20 (the first two cross each other)")
    paths = make_tracking_videos(out, args.videos, args.frames, tuple(hw), args.seed, args.classes,
                                 args.video_objects, stop_go=args.stop_go, entering=args.entering)
    print(f"{len(paths)} clips of {args.frames} frames ({hw[0]}x{hw[1]}) with ground truth in {out}; track with: "
          f"cspdet track --source {paths[0]} --img-size 128")
    return 0
