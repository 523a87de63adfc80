"""COCO's 80 detection classes and the one rule for the ids written into COCO results.

``COCO_NAMES`` is the order Darknet and YOLO models predict, in Darknet's naming ("motorbike",
"aeroplane", ...); ``COCO_OFFICIAL_NAMES`` the same classes as COCO's instances files name them.
Category ids (``category_ids_for``): the ids a COCO JSON gave a dataset (and its checkpoints);
else COCO's official 1..90 ids when the names are COCO's 80 (either naming); else 0..nc-1.
Image ids (``image_ids``): the number of a numeric file stem, as COCO's own files are named.
"""
from __future__ import annotations

from typing import Iterable, Sequence

COCO_NAMES = (
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa", "pottedplant", "bed",
    "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)
_OFFICIAL = {"motorbike": "motorcycle", "aeroplane": "airplane", "sofa": "couch", "pottedplant": "potted plant",
             "diningtable": "dining table", "tvmonitor": "tv"}
COCO_OFFICIAL_NAMES = tuple(_OFFICIAL.get(n, n) for n in COCO_NAMES)

# COCO's category id of each of the 80 classes (instances files number 91 categories, 80 used).
COCO80_TO_91 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
                31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
                56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
                85, 86, 87, 88, 89, 90)


def _key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


# Spellings of one class that _key does not fold together: Darknet's (VOC's) beside COCO's, and
# the everyday "hair dryer" beside COCO's own "hair drier".
_SYNONYMS = {**{_key(b): _key(a) for a, b in _OFFICIAL.items()}, "hairdryer": "hairdrier", "television": "tvmonitor"}


def class_key(name: str) -> str:
    """The one key two spellings of a class share: case, spaces, underscores and hyphens aside,
    and COCO's and Darknet's names as synonyms (motorcycle/motorbike, tv/tvmonitor, ...)."""
    key = _key(name)
    return _SYNONYMS.get(key, key)


def is_coco80(names: Sequence[str]) -> bool:
    """Whether ``names`` are COCO's 80 classes in order, in COCO's or Darknet's naming (case,
    spaces and underscores aside)."""
    return len(names) == len(COCO_NAMES) and all(
        _key(n) in (_key(a), _key(b)) for n, a, b in zip(names, COCO_NAMES, COCO_OFFICIAL_NAMES))


def category_ids_for(names: Sequence[str], given: Sequence[int] | None = None) -> list[int]:
    """The COCO category id of each class (index = class): ``given`` (a COCO JSON's own, kept by
    its dataset and the checkpoints trained on it) if any, else COCO's official ids for COCO's
    80 names, else 0..nc-1."""
    if given is not None:
        if len(given) != len(names):
            raise ValueError(f"{len(given)} category ids for {len(names)} class names")
        return [int(i) for i in given]
    return list(COCO80_TO_91) if is_coco80(names) else list(range(len(names)))


def numeric_stem(stem: str) -> int | None:
    """``"000000000139"`` -> 139; None for a stem that is not a plain decimal number."""
    return int(stem) if stem.isascii() and stem.isdigit() else None


def image_ids(stems: Iterable[str]) -> list[int]:
    """Integer image ids for file stems, in their order: a numeric stem is its number (COCO's
    files: 000000000139.jpg is image 139); the others, and numbers that repeat, are numbered on
    from the largest numeric id, so ids never collide and the same files get the same ids."""
    stems = list(stems)
    numbers = [numeric_stem(s) for s in stems]
    counts: dict[int, int] = {}
    for n in numbers:
        if n is not None:
            counts[n] = counts.get(n, 0) + 1
    unique = [n if n is not None and counts[n] == 1 else None for n in numbers]
    nxt = max((n for n in unique if n is not None), default=-1) + 1
    out = []
    for n in unique:
        if n is None:
            n, nxt = nxt, nxt + 1
        out.append(n)
    return out
