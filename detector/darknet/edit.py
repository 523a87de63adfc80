"""Edits of cfg text that keep it a Darknet cfg, and what a cfg's graph says about its parts.

``set_classes`` changes a detector's class count the way Darknet's own instructions for custom
data do by hand: ``classes=`` in every ``[yolo]`` and ``filters=(classes + 5) * len(mask)`` in
the ``[convolutional]`` feeding it. Every other line stays as written, so the result still runs
in Darknet and OpenCV and ``save_weights`` writes a file that matches it.
"""
from __future__ import annotations

from .cfg import Section, parse_cfg_text
from .plan import LayerSpec, plan_layers


def _set_key(edits: dict[int, str], inserts: dict[int, list[str]], sec: Section, key: str, value: int) -> None:
    """Record ``key=value`` for ``sec``: on the key's own line, or a new line after the header."""
    if key in sec.key_lines:
        edits[sec.key_lines[key]] = f"{key}={value}"
    else:
        inserts.setdefault(sec.line, []).append(f"{key}={value}")


def set_classes(text: str, classes: int, source: str = "<cfg>") -> str:
    """cfg ``text`` -> the same cfg with heads for ``classes`` classes (see module doc).

    Raises ValueError (``file:line:``) if a ``[yolo]`` is not fed by a ``[convolutional]``.
    """
    if classes < 1:
        raise ValueError(f"{source}: classes must be >= 1, got {classes}")
    cfg = parse_cfg_text(text, source)
    specs, _ = plan_layers(cfg)
    edits: dict[int, str] = {}
    inserts: dict[int, list[str]] = {}
    for spec in specs:
        if spec.type != "yolo":
            continue
        feed = cfg.layers[spec.sources[0]]
        if feed.type != "convolutional":
            raise spec.section.error(f"fed by a [{feed.type}] (layer {spec.sources[0]}), not a [convolutional] whose "
                                     "filters could change with the class count")
        anchors = spec.in_shapes[0][0] // (5 + spec.section.get_int("classes", 20))
        _set_key(edits, inserts, spec.section, "classes", classes)
        _set_key(edits, inserts, feed, "filters", (classes + 5) * anchors)
    return _edited(text, edits, inserts)


def set_filters(text: str, filters: dict[int, int], source: str = "<cfg>") -> str:
    """cfg ``text`` -> the same cfg with ``filters=`` of each ``[convolutional]`` layer index in
    ``filters`` changed (a pruned model's widths); every other line stays as written."""
    cfg = parse_cfg_text(text, source)
    edits: dict[int, str] = {}
    inserts: dict[int, list[str]] = {}
    for index, value in filters.items():
        sec = cfg.layers[index]
        if sec.type != "convolutional":
            raise sec.error(f"layer {index} is a [{sec.type}], not a [convolutional] with filters")
        _set_key(edits, inserts, sec, "filters", value)
    return _edited(text, edits, inserts)


def _edited(text: str, edits: dict[int, str], inserts: dict[int, list[str]]) -> str:
    """``text`` with line ``n`` replaced by ``edits[n]`` and ``inserts[n]`` added after it."""
    lines = text.splitlines(keepends=True)
    for lineno in sorted(set(edits) | set(inserts), reverse=True):  # bottom up: line numbers stay valid
        raw = lines[lineno - 1]
        ending = raw[len(raw.rstrip("\r\n")):] or "\n"
        if lineno in edits:
            lines[lineno - 1] = edits[lineno] + ending
        if lineno in inserts:
            lines[lineno:lineno] = [extra + ending for extra in inserts[lineno]]
            if not raw.endswith(("\n", "\r")):
                lines[lineno - 1] += ending
    return "".join(lines)


def head_readers(specs: list[LayerSpec]) -> tuple[list[list[int]], list[frozenset[int]]]:
    """Per layer: the layers that read it, and the ``[yolo]`` layers its output reaches."""
    readers: list[list[int]] = [[] for _ in specs]
    for spec in specs:
        for src in spec.sources:
            if src >= 0:
                readers[src].append(spec.index)
    heads: list[frozenset[int]] = [frozenset()] * len(specs)
    for spec in reversed(specs):
        own = {spec.index} if spec.type == "yolo" else set()
        heads[spec.index] = frozenset(own.union(*(heads[r] for r in readers[spec.index])))
    return readers, heads


def backbone_length(specs: list[LayerSpec], input_hw: tuple[int, int], source: str) -> int:
    """How many leading layers form the backbone of a detector cfg.

    The neck begins at the first layer at the network's deepest stride whose readers lead to
    different sets of ``[yolo]`` heads: where the paths to the heads part. Finer-stride taps
    (the backbone's C3/C4 outputs) part too, hence the stride condition. An SPP block before
    that point counts as backbone, as yolov5 counts its SPPF. yolov3-tiny -> 13, yolov4-tiny ->
    27, yolov4 -> 116 (CSPDarknet53 and SPP).
    """
    readers, heads = head_readers(specs)
    if sum(s.type == "yolo" for s in specs) < 2:
        raise ValueError(f"{source}: a single [yolo] head gives no point where the backbone ends; "
                         "give --freeze a layer count")
    deepest = max(input_hw[0] / s.out_shape[1] for s in specs if heads[s.index])
    for spec in specs:
        reached = {heads[r] for r in readers[spec.index]}
        if input_hw[0] / spec.out_shape[1] == deepest and len(reached) > 1:
            return spec.index
    raise ValueError(f"{source}: found no layer where the paths to the [yolo] heads part; give --freeze a layer count")
