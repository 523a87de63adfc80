"""Shared pieces of the backends: metadata from an ONNX file, and export-on-demand."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from ...geometry.decode import HeadSpec, decode

ONNX_FAMILY_SUFFIX = ".onnx"


class OnnxMeta:
    """What a backend reads from a cspdet ONNX file's metadata: names, head spec, sizes, format."""

    def __init__(self, path: str | Path, meta: dict | None = None):
        """``meta``: the parsed metadata when it does not come from an ONNX file (an OpenVINO IR)."""
        from ...export import read_metadata

        meta = read_metadata(path) if meta is None else meta
        if "strides" not in meta or "anchors" not in meta:
            raise ValueError(f"{path}: no cspdet metadata (strides/anchors); export it with `cspdet export`")
        self.meta, self.path = meta, path
        try:
            self.spec = HeadSpec.from_dict(meta)
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise ValueError(f"{path}: unusable cspdet metadata ({e})") from None
        names = meta.get("names") or [f"class{i}" for i in range(self.spec.num_classes)]
        if not isinstance(names, list) or len(names) != self.spec.num_classes:
            got = f"{len(names)} names" if isinstance(names, list) else f"a {type(names).__name__}"
            raise ValueError(f"{path}: metadata key 'names' holds {got} for num_classes={self.spec.num_classes}; "
                             "re-export the model with cspdet export")
        self.names = [str(n) for n in names]
        self.raw = meta.get("output_format") == "raw"
        size = meta.get("img_size")
        self.input_size = None if meta.get("dynamic") else (tuple(size) if size else None)
        self.batch = meta.get("batch")

    def check_input(self, dims) -> None:
        """Refuse a static graph input [B, 3, H, W] (None or a name: dynamic) whose H x W is not
        the metadata's ``img_size``: frames would be letterboxed to one size and fed to another."""
        if self.input_size is None or len(dims) != 4 or not all(isinstance(d, int) for d in dims[2:]):
            return
        if tuple(dims[2:]) != tuple(self.input_size):
            raise ValueError(f"{self.path}: metadata key 'img_size' says {list(self.input_size)}, but the graph's "
                             f"input is {dims[2]}x{dims[3]}; re-export the model with cspdet export")

    def finish(self, outputs) -> "np.ndarray":
        """Backend outputs -> decoded [B, N, 5 + nc] (decoding raw maps in numpy when needed)."""
        return decode(list(outputs), self.spec) if self.raw else outputs[0]


# The code that decides an exported graph or its metadata: what ``export_onnx`` and
# ``load_detector`` import (subpackages, then single modules), relative to the package.
GRAPH_CODE = ("export", "models", "layers", "darknet", "io", "geometry", "data/coco.py", "limits.py", "version.py",
              "__init__.py")


def graph_code_files() -> list[Path]:
    """Every file of GRAPH_CODE, in a fixed order."""
    root = Path(__file__).resolve().parents[2]
    files = []
    for entry in GRAPH_CODE:
        path = root / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


@functools.lru_cache(maxsize=1)
def _code_revision() -> str:
    """Hash of the code that shapes an exported graph, so a cspdet upgrade never reuses a stale export."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha1()
    for f in graph_code_files():
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _source_digest(path: Path, cfg) -> str:
    """sha256 over the bytes of every file the model is built from: the model file (a config
    name resolved to its YAML) and the Darknet cfg of a .weights file."""
    from ...models.config import resolve_config_path

    files = [path if path.is_file() else resolve_config_path(path)]
    if cfg or path.suffix.lower() == ".weights":
        files.append(Path(cfg) if cfg else path.with_suffix(".cfg"))
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


EXPORT_OPSET = 12


def export_cache() -> Path:
    """Where exported models are kept: ``$CSPDET_HOME/cache/exports`` (``models.zoo.home``)."""
    from ...models.zoo import home

    return home() / "cache" / "exports"


def cached_export_path(path: Path, cfg, *, img_size=None, batch: int = 1, dynamic: bool = False) -> Path:
    """The cache file an export of ``path`` would have: a sha256 of the model's bytes (and its
    Darknet cfg's), the size (``None``: the model's own), batch, dynamic axes, opset and the
    exporter code, so a changed model, setting or cspdet version never reuses a stale file."""
    key = (f"{_source_digest(path, cfg)}|{img_size or 'default'}|{batch}|{'dynamic' if dynamic else 'static'}|"
           f"opset{EXPORT_OPSET}|{_code_revision()}")
    return export_cache() / f"{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"


def ensure_onnx(path: str | Path, *, img_size=None, cfg=None, batch: int = 1, dynamic: bool = False,
                announce=None) -> Path:
    """``path`` if it is ONNX; otherwise export the model once to the cache and return that file.

    Lets ``--backend onnxruntime|opencv|openvino`` (and ``auto``) take a ``.pt``, YAML or Darknet
    model directly. The file is written under a temporary name and renamed into place, so an
    interrupted export is never served; two processes exporting at once both write a whole file
    and the last rename wins (the same bytes), so no lock is needed. A cache hit loads nothing.
    ``announce(text, end)``: told about an export before it starts and when it ends (its time).
    """
    import time

    from ...io.files import atomic_output
    from ...models.zoo import resolve_weights

    path, cfg = resolve_weights(path, cfg)
    path = Path(path)
    if path.suffix.lower() == ONNX_FAMILY_SUFFIX:
        return path
    out = cached_export_path(path, cfg, img_size=img_size, batch=batch, dynamic=dynamic)
    if out.exists():
        return out
    import torch  # noqa: F401  (export needs it; fail here with a clear import error)

    from ...export import export_onnx
    from ...models.loading import load_detector

    t0 = time.perf_counter()
    if announce:
        announce(f"exporting {path.name} to ONNX once, cached at {out} ...", "")
    model = load_detector(path, cfg=cfg)
    size = img_size or getattr(model, "img_size", 416)
    with atomic_output(out) as tmp:
        export_onnx(model, tmp, img_size=size, batch=batch, dynamic=dynamic, opset=EXPORT_OPSET)
    if announce:
        announce(f" {time.perf_counter() - t0:.1f} s", "\n")
    return out
