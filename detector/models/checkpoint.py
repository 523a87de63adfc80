"""cspdet checkpoints: one ``.pt`` holding how to rebuild the model, its class names and weights.

Only plain data and tensors go in, so ``torch.load(..., weights_only=True)`` reads them back:
a checkpoint from the internet cannot run code on load.
"""
from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

import torch

from ..io.files import atomic_output

FORMAT = "cspdet"
VERSION = 1


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temp file beside ``path``, then rename: a crash never leaves a half file.
    A failed write is an OSError naming ``path`` (and saying so when the disk is full)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        try:
            torch.save(obj, tmp)
            error = None
        except (RuntimeError, OSError) as e:
            error = write_error(path, tmp, e)
        if error is not None:  # raised here, so the failed write's frames (and its open file) are gone
            raise error
    return path


def write_error(path: Path, tmp: Path, e: BaseException) -> OSError:
    """The OSError for a failed ``torch.save`` of ``path``. torch reports a full disk as a
    RuntimeError from its zip writer ("inline_container.cc ... file write failed") without an
    errno, so the free space is looked at while the partial ``tmp`` still holds its blocks."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC or _nearly_full(tmp.parent):
        free = shutil.disk_usage(tmp.parent).free
        err = OSError(f"{path}: could not write it: No space left on device ({free:,} bytes free there); "
                      "free some space and run again")
        err.errno = errno.ENOSPC
        return err
    reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e).strip().splitlines() or [""])[-1][:160]
    return OSError(f"{path}: could not write it ({reason})")


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def checkpoint_dict(model: torch.nn.Module, **extra: Any) -> dict[str, Any]:
    """The checkpoint of ``model`` (anything with ``describe()`` and ``names``): format, version,
    architecture, class names, COCO category ids when the model carries them (trained on a
    COCO JSON: its ids, see ``data.coco.category_ids_for``) and CPU weights, plus ``extra``."""
    ids = getattr(model, "category_ids", None)
    return {"format": FORMAT, "version": VERSION, "arch": model.describe(), "names": list(model.names),
            **({"category_ids": [int(i) for i in ids]} if ids is not None else {}),
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra}


def save_checkpoint(path: str | Path, model: torch.nn.Module, **extra: Any) -> Path:
    """Write ``checkpoint_dict(model, **extra)`` to ``path`` atomically."""
    return atomic_save(checkpoint_dict(model, **extra), path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate a cspdet checkpoint (weights-only unpickling)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or foreign files
        raise ValueError(f"{path}: not a readable cspdet checkpoint ({type(e).__name__}: "
                         f"{(str(e).splitlines() or ['empty or truncated file'])[0][:120]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a cspdet checkpoint (no 'format: {FORMAT}' entry)")
    if ckpt.get("version", 0) > VERSION:
        raise ValueError(f"{path}: checkpoint version {ckpt['version']} is newer than this cspdet "
                         f"understands ({VERSION}); upgrade cspdet")
    for key in ("arch", "names", "model"):
        if key not in ckpt:
            raise ValueError(f"{path}: checkpoint lacks '{key}'")
    return ckpt
