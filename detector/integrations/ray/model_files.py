"""A model's files carried to the nodes of a cluster, so that ``--weights model.pt`` on the
driver's disk works on nodes that do not have it.

Ray has no file-shipping primitive for this: ``runtime_env`` working dirs are for code (100 MB
cap, re-uploaded per job) and the object store holds values. So the driver reads the files once
into a ``ModelFiles`` value (Ray puts it in the object store with the actor's constructor
arguments), and each actor writes them to a folder named by their content hash on its node: the
actors of one node share one copy, and the export caches, keyed on path and content, hit across
actors and runs.
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ...io.files import write_bytes


@dataclass(frozen=True)
class ModelFiles:
    """``files``: name -> bytes of the weights file and what it needs beside it (an OpenVINO
    ``.bin``, a Darknet ``.cfg``); ``weights`` and ``cfg`` name the entries to load."""

    weights: str
    files: dict[str, bytes] = field(repr=False)
    cfg: str | None = None

    @classmethod
    def read(cls, weights: str | Path, cfg: str | Path | None = None) -> "ModelFiles | None":
        """The files of ``weights`` (resolving a zoo name first); None for a config name, which
        every node builds itself (seeded random weights)."""
        from ...models.zoo import resolve_weights

        path, cfg = resolve_weights(weights, cfg, progress=False)
        path = Path(path)
        if not path.is_file():
            return None
        paths = [path]
        if path.suffix.lower() == ".xml":
            paths.append(path.with_suffix(".bin"))
        if cfg is None and path.suffix.lower() == ".weights" and path.with_suffix(".cfg").is_file():
            cfg = path.with_suffix(".cfg")
        if cfg is not None:
            paths.append(Path(cfg))
        names = [p.name for p in paths]
        if len(set(names)) != len(names):
            raise ValueError(f"--weights {path} and --cfg {cfg}: the two files need different names")
        files = {p.name: p.read_bytes() for p in paths if p.is_file()}
        return cls(path.name, files, Path(cfg).name if cfg is not None else None)

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()[:16]

    def local(self, root: str | Path | None = None) -> tuple[Path, Path | None]:
        """Write the files on this node (once: the folder is named by their hash; every write is
        atomic, so actors starting together never read half a file) -> (weights, cfg) paths."""
        folder = Path(root or Path(tempfile.gettempdir()) / "cspdet-ray-models") / self.digest
        for name, data in self.files.items():
            target = folder / name
            if not (target.is_file() and target.stat().st_size == len(data)):
                write_bytes(target, data)
        return folder / self.weights, (folder / self.cfg if self.cfg else None)


def local_weights(weights, detector_kwargs: dict) -> tuple[str | Path, dict]:
    """``weights`` (a path, a name or ``ModelFiles``) -> what ``Detector`` takes on this node."""
    if not isinstance(weights, ModelFiles):
        return weights, detector_kwargs
    path, cfg = weights.local()
    return path, {**detector_kwargs, "cfg": str(cfg) if cfg else None}
