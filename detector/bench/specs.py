"""What ``cspdet bench`` can measure, parsed from the command line into ``ModelSpec``s.

MODEL is ``[KIND:]SOURCE[@SIZE]``:

- a config YAML path or name, a cspdet ``.pt``, a Darknet ``.cfg`` (random weights) or
  ``.weights``, or a zoo name (``cspdet models``; fetched on first use): a detector, run
  through the runtime's backends;
- an ``.onnx`` file (its static size is its only size);
- ``classifier:NAME`` / ``backbone:NAME``: the paper's ImageNet classifier over backbone NAME
  (GAP + FC, as Table 1 counts it) or the bare backbone, exported to ONNX for ORT/OpenCV;
  ``NAME?key=value&...`` passes keyword arguments to the backbone, e.g.
  ``classifier:cspdarknet53?act=leaky`` (values read as YAML scalars).

A baseline is ``darknet:CFG[@SIZE]``: a Darknet cfg by path or by name in
``$CSPDET_SHARED/darknet``, run through OpenCV's own Darknet importer (the paper's CPU setup),
or, on an OpenCV without one (5.x), through cspdet's Darknet reader and ONNX export.
``@SIZE`` pins the input size; otherwise ``--img-size`` (or the model's default) applies.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NET_PREFIXES = ("classifier", "backbone")
DETECTOR_FILES = (".pt", ".cfg", ".weights")
_SIZED = re.compile(r"^(?P<base>.+)@(?P<size>\d+)$")


@dataclass(frozen=True)
class ModelSpec:
    """One thing to measure. ``kind``: detector | onnx | classifier | backbone | darknet."""

    kind: str
    source: str
    label: str
    size: int | None = None
    options: tuple[tuple[str, object], ...] = ()

    @property
    def is_baseline(self) -> bool:
        return self.kind == "darknet"

    @property
    def kwargs(self) -> dict:
        """Keyword arguments for the backbone of a classifier/backbone spec."""
        return dict(self.options)


def shared_dir() -> Path:
    """The read-only data folder beside the checkout ($CSPDET_SHARED, else ../shared)."""
    return Path(os.environ.get("CSPDET_SHARED", REPO.parent / "shared"))


def _split_size(text: str, what: str) -> tuple[str, int | None]:
    m = _SIZED.match(text)
    if not m:
        return text, None
    size = int(m.group("size"))
    if size < 32:
        raise ValueError(f"{what} {text}: size {size} is below 32")
    return m.group("base"), size


def _onnx_size(path: Path) -> int | None:
    from ..export import read_metadata

    meta = read_metadata(path)
    size = meta.get("img_size")
    return None if meta.get("dynamic") or not size else int(size[0])


def parse_model(text: str) -> ModelSpec:
    """A MODEL argument -> ModelSpec; one-line errors naming the argument."""
    base, size = _split_size(text, "MODEL")
    kind, _, name = base.partition(":")
    if name and kind in NET_PREFIXES:
        return _net_spec(kind, name, size, text)
    if name and len(kind) > 1 and not Path(base).exists():  # "c:\\x" stays a path
        raise ValueError(f"MODEL {text}: unknown prefix {kind!r} (known: {', '.join(NET_PREFIXES)}; "
                         "Darknet baselines go in --baseline darknet:CFG)")
    from ..models.zoo import resolve_weights

    path = Path(resolve_weights(base)[0])  # a zoo name -> its cached .weights (cfg beside) or .pt
    suffix = path.suffix.lower()
    if suffix == ".onnx" or suffix in DETECTOR_FILES:
        if not path.is_file():
            raise FileNotFoundError(f"MODEL {text}: no such file")
        if suffix != ".onnx":
            return ModelSpec("detector", str(path), path.stem, size)
        static = _onnx_size(path)
        if size and static and size != static:
            raise ValueError(f"MODEL {text}: the file was exported for {static}x{static}; "
                             f"drop @{size} or export at that size")
        return ModelSpec("onnx", str(path), path.stem, static or size)
    from ..models.config import resolve_config_path

    try:
        resolve_config_path(base)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"MODEL {text}: {e}") from None
    return ModelSpec("detector", base, path.stem if suffix in (".yaml", ".yml") else base, size)


def _net_spec(kind: str, name: str, size: int | None, text: str) -> ModelSpec:
    import inspect

    from ..io.text import parse_yaml
    from ..models import BACKBONES

    name, _, query = name.partition("?")
    if name not in BACKBONES:
        raise ValueError(f"MODEL {text}: unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    pairs = [kv.partition("=") for kv in query.split("&") if kv]
    if any(not k or not eq for k, eq, _ in pairs):
        raise ValueError(f"MODEL {text}: options go as NAME?key=value&key=value")
    options = tuple(sorted((k, parse_yaml(v, f"MODEL {text}")) for k, _, v in pairs))
    try:
        inspect.signature(BACKBONES[name]).bind(**dict(options))
    except TypeError as e:
        raise ValueError(f"MODEL {text}: {e} for backbone {name}") from None
    return ModelSpec(kind, name, f"{kind}:{name}" + (f"?{query}" if query else ""), size, options)


def resolve_darknet_cfg(name: str, text: str) -> Path:
    """A cfg path, or a bare name (with or without .cfg) in $CSPDET_SHARED/darknet."""
    path = Path(name)
    if path.is_file():
        return path
    folder = shared_dir() / "darknet"
    candidate = folder / (path.name if path.suffix == ".cfg" else f"{name}.cfg")
    if candidate.is_file():
        return candidate
    known = sorted(p.stem for p in folder.glob("*.cfg")) if folder.is_dir() else []
    hint = f"known: {', '.join(known)}" if known else f"{folder} not found; set CSPDET_SHARED"
    raise FileNotFoundError(f"--baseline {text}: no such Darknet cfg ({hint})")


def parse_baseline(text: str) -> ModelSpec:
    """``darknet:CFG[@SIZE]`` -> ModelSpec (size defaults to the cfg's [net] height)."""
    kind, _, rest = text.partition(":")
    if kind != "darknet" or not rest:
        raise ValueError(f"--baseline {text}: expected darknet:CFG[@SIZE], e.g. darknet:yolov3-tiny@416")
    name, size = _split_size(rest, "--baseline")
    cfg = resolve_darknet_cfg(name, text)
    if size is None:
        from ..darknet import parse_cfg

        size = parse_cfg(cfg).input_shape[1]
    if size % 32:
        raise ValueError(f"--baseline {text}: size {size} is not a multiple of 32 (Darknet's largest stride)")
    return ModelSpec("darknet", str(cfg), f"darknet:{cfg.stem}@{size}", size)
