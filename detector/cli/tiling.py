"""``--tile SIZE [--tile-overlap F] [--tile-merge nmm|nms]``: tiled inference for detect, track
and val (``runtime.tiling``), declared once here."""
from __future__ import annotations

from .argtypes import float_in, img_size

tile_overlap = float_in(0.0, 0.9)


def add_tile_args(p) -> None:
    g = p.add_argument_group("tiling (small objects in large images; docs/tiling.md)")
    g.add_argument("--tile", type=img_size, default=None, metavar="SIZE",
                   help="also run overlapping SIZE x SIZE windows of each image (each letterboxed to --img-size; "
                        "SIZE = --img-size keeps full resolution) and merge their boxes with the whole image's")
    g.add_argument("--tile-overlap", type=tile_overlap, default=0.2, metavar="F",
                   help="share of a tile side its neighbour repeats (default 0.2)")
    g.add_argument("--tile-merge", choices=("edge", "nmm", "nms"), default="edge",
                   help="edge: NMS at --iou-thres, and a box cut at an inner tile edge merged into the union with "
                        "the boxes covering over half of it; nmm: that merging for every pair (SAHI's GREEDYNMM); "
                        "nms: NMS alone (default edge)")


def tile_kwargs(args) -> dict:
    """The ``Detector`` keywords of the tiling flags."""
    return dict(tile=args.tile, tile_overlap=args.tile_overlap, tile_merge=args.tile_merge)
