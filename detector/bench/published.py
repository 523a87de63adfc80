"""The accuracy the authors published for the zoo models a bench measured, printed beside the
timings: a random-weights row is only worth its speed next to what the trained model scores."""
from __future__ import annotations

import re
from pathlib import Path


def zoo_name(model: str) -> str | None:
    """A row's model label (``darknet:yolov7-tiny@416``, ``yolov7-tiny``, a cfg or ONNX path) -> the
    zoo name it is, or None."""
    from ..models.zoo import ZOO

    stem = Path(re.sub(r"@\d+$", "", model.removeprefix("darknet:").removeprefix("cspdet:"))).stem
    stem = re.sub(r"-(f16|int8)$", "", stem)
    return stem if stem in ZOO and not ZOO[stem].shipped else None


def published_lines(models) -> list[str]:
    """One line per distinct zoo model among ``models`` (row labels): AP / AP50 @size [source]."""
    from ..models.zoo import ZOO

    lines, seen = [], set()
    for label in models:
        name = zoo_name(label)
        if name and name not in seen:
            seen.add(name)
            m = ZOO[name]
            ap = f"AP {m.ap:.1f} / " if m.ap is not None else ""
            lines.append(f"{name}: COCO {ap}AP50 {m.ap50_text} @{m.ap50_size} ({m.ap50_source})")
    return lines
