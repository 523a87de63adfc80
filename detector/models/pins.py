"""SHA-256 pins of the zoo's files, and the cache's record of what was verified.

A zoo file is hashed when it arrives (downloaded, or put in the cache by hand) and again when it
is first used after its size or modification time changed; ``<name>.json`` beside the files keeps
the size, mtime and SHA-256 last verified, so an unchanged 250 MB file is not re-read on every
run. A file whose hash is not its pin is moved aside to ``<file>.rejected`` and refused in one
line naming both hashes. A file without a pin (no hash was published beside it) is used, and its
hash is printed with the word "unpinned", so a user can compare it with a trusted copy.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..io.files import atomic_output
from .download import move_aside, sha256_file


def load_record(path: Path) -> dict:
    """``{file name: {url, bytes, mtime_ns, sha256, pinned}}`` from a cache record; a missing or
    unreadable record is empty (it only saves re-hashing: everything in it can be recomputed)."""
    try:
        files = json.loads(path.read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def save_record(path: Path, name: str, files: dict) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps({"name": name, "files": files}, indent=2) + "\n")


def entry_for(path: Path, digest: str, pinned: str | None, url: str | None = None) -> dict:
    """The record entry of ``path`` as it is now on disk, with its SHA-256 ``digest``."""
    st = path.stat()
    entry = {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest, "pinned": pinned is not None}
    return {"url": url, **entry} if url else entry


def unchanged(path: Path, entry: dict | None, pinned: str | None) -> bool:
    """Whether ``path`` still has the size and mtime it had when ``entry`` was verified (and
    ``entry``'s hash is the pin, when there is one): no need to read it again."""
    if not entry or not isinstance(entry.get("sha256"), str):
        return False
    st = path.stat()
    return (entry.get("bytes") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns
            and (pinned is None or entry["sha256"] == pinned))


def verify(path: Path, pinned: str | None, entry: dict | None, *, force: bool = False) -> tuple[dict, bool]:
    """Check ``path`` against ``pinned`` (or, unpinned, only hash it) unless ``entry`` shows it
    unchanged -> (its new record entry, whether it was read). A mismatch moves the file aside and
    raises a one-line ValueError naming the expected and the actual hash."""
    if not force and unchanged(path, entry, pinned):
        return entry, False
    digest = sha256_file(path)
    if pinned is not None and digest != pinned:
        aside = move_aside(path, path)
        raise ValueError(f"{path}: SHA-256 {digest} is not the published {pinned}; moved aside to {aside} "
                         "(run again to download it afresh)")
    new = entry_for(path, digest, pinned, (entry or {}).get("url"))
    if pinned is None:
        say_unpinned(path, digest, (entry or {}).get("sha256"))
    return new, True


def say_unpinned(path: Path, digest: str, before: str | None = None) -> None:
    """Print the hash of a file that has no published one to be checked against."""
    change = f" (it was {before} when first recorded: the file changed)" if before and before != digest else ""
    print(f"cspdet: {path.name} is unpinned (no SHA-256 is published for it): SHA-256 {digest}{change}",
          file=sys.stderr)
