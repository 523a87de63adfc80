"""Writing results so that nothing is lost: a fresh run folder that never overwrites an earlier
run, and the one atomic write every output goes through (checkpoints, exports, caches, images,
labels, JSON), so that a crash, a full disk or Ctrl-C never leaves half a file in a real name.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write to; when the block succeeds the file is synced
    and renamed onto ``path`` (replacing it), when it raises it is removed and ``path`` is left
    as it was.

    The name is not created in advance (unlike mkstemp), so the file gets the usual permissions.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)  # on disk before the rename, or a power cut leaves an empty file
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all, or raise an OSError naming it: a full disk
    never leaves a truncated image, label or cache behind."""
    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            tmp.write_bytes(data)
    except OSError as e:
        raise OSError(f"{path}: could not write {len(data)} bytes ({e.strerror or e})") from None


def new_run_dir(project: str | Path = "runs/detect", name: str = "exp", exist_ok: bool = False) -> Path:
    """Create and return ``project/name``, or ``name2``, ``name3``... if taken (atomic mkdir);
    ``exist_ok`` reuses ``project/name`` as it is (yolov5's ``--exist-ok``)."""
    project = Path(project)
    if project.exists() and not project.is_dir():
        raise ValueError(f"--project {project}: is a file, not a folder")
    try:
        project.mkdir(parents=True, exist_ok=True)
        if exist_ok:
            (project / name).mkdir(exist_ok=True)
            return project / name
        for i in range(1, 10000):
            path = project / (name if i == 1 else f"{name}{i}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except PermissionError as e:
        raise ValueError(f"--project {project}: cannot create a run folder there ({e.strerror})") from None
    raise RuntimeError(f"{project}: no free run folder name for {name!r}")


def remove_if_empty(run_dir: Path | None) -> None:
    """Drop a run folder that a failed run left with nothing in it."""
    if run_dir is not None and run_dir.is_dir() and not any(p.is_file() for p in run_dir.rglob("*")):
        for sub in sorted(run_dir.rglob("*"), reverse=True):
            sub.rmdir()
        run_dir.rmdir()
