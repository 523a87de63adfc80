"""Shared pieces of the backends: metadata from an ONNX file, and export-on-demand."""
from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path

from ..decode import HeadSpec, decode

ONNX_FAMILY_SUFFIX = ".onnx"


class OnnxMeta:
    """What a backend reads from a cspdet ONNX file's metadata: names, head spec, sizes, format."""

    def __init__(self, path: str | Path):
        from ...export import read_metadata

        meta = read_metadata(path)
        if "strides" not in meta or "anchors" not in meta:
            raise ValueError(f"{path}: no cspdet metadata (strides/anchors); export it with `cspdet export`")
        self.meta = meta
        self.spec = HeadSpec.from_dict(meta)
        self.names = list(meta.get("names") or [f"class{i}" for i in range(self.spec.num_classes)])
        self.raw = meta.get("output_format") == "raw"
        size = meta.get("img_size")
        self.input_size = None if meta.get("dynamic") else (tuple(size) if size else None)
        self.batch = meta.get("batch")

    def finish(self, outputs) -> "np.ndarray":
        """Backend outputs -> decoded [B, N, 5 + nc] (decoding raw maps in numpy when needed)."""
        return decode(list(outputs), self.spec) if self.raw else outputs[0]


@functools.lru_cache(maxsize=1)
def _code_revision() -> str:
    """Hash of the code that shapes an exported graph, so a cspdet upgrade never reuses a stale export."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha1()
    for sub in ("export", "models", "layers", "darknet"):
        for f in sorted((root / sub).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def ensure_onnx(path: str | Path, *, img_size=None, cfg=None, batch: int = 1) -> Path:
    """``path`` if it is ONNX; otherwise export the model once to a cache file and return that.

    Lets ``--backend onnxruntime|opencv`` take a ``.pt``, YAML or Darknet model directly. The
    cache name hashes the source's path, size and mtime, the export settings and the exporter code.
    """
    import torch  # noqa: F401  (export needs it; fail here with a clear import error)

    from ...export import export_onnx
    from ...models.loading import load_detector
    from ...models.zoo import resolve_weights

    path, cfg = resolve_weights(path, cfg)
    path = Path(path)
    if path.suffix.lower() == ONNX_FAMILY_SUFFIX:
        return path
    model = load_detector(path, cfg=cfg)
    size = img_size or getattr(model, "img_size", 416)
    key_src = f"{path.resolve()}|{path.stat().st_size if path.exists() else 0}|" \
              f"{path.stat().st_mtime if path.exists() else 0}|{size}|{batch}|{cfg}|{_code_revision()}"
    key = hashlib.sha1(key_src.encode()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / "cspdet-onnx" / f"{path.stem}-{key}.onnx"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model, out, img_size=size, batch=batch)
    return out
