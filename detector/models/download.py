"""HTTP download of one file into a cache, stdlib only (``urllib``).

The bytes go to ``<dest>.part``, which becomes ``dest`` only once it holds every byte, passes the
caller's check and, when the caller knows it, has the published SHA-256; a file whose hash
differs is moved aside to ``<dest>.rejected``. An interrupted transfer keeps the ``.part`` and
the next call resumes it with an HTTP ``Range`` request, but only a ``.part`` this code started:
``<dest>.part.json`` records the URL and the server's validators (ETag, Last-Modified, length)
when the first byte is written, a resume sends them back as ``If-Range`` and compares them with
the answer, and any difference (or no record: a ``.part`` from elsewhere) starts again from
byte 0 rather than splicing two files. ``file_lock`` lets one process at a time fetch a name.
Every failure is one line naming the URL and ``dest``, the path where a copy fetched by hand is
picked up instead.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

CHUNK = 1 << 20
TIMEOUT_S = 30
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(\d+|\*)")


class DownloadError(FileNotFoundError):
    """The file could not be fetched (offline, HTTP error, dropped connection). A
    FileNotFoundError: the CLI prints it as one line, as it does a missing local file."""


def human_size(n: int | None) -> str:
    """Bytes as ``245.8 MB`` (decimal units, as download pages print them)."""
    if n is None:
        return "size unknown"
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def part_record(dest: Path) -> Path:
    """Where the validators of ``dest``'s ``.part`` are kept while it grows."""
    return dest.with_name(dest.name + ".part.json")


def rejected_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".rejected")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def move_aside(path: Path, dest: Path) -> Path:
    """Rename ``path`` to ``dest``'s ``.rejected`` (replacing an older one) and return that."""
    aside = rejected_path(dest)
    os.replace(path, aside)
    return aside


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block; another process
    holding it makes this one wait, saying so once. The kernel drops the lock if the holder dies,
    so a killed download never blocks the next one."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            print(f"cspdet: waiting for another cspdet process that is fetching {what} (lock {path})",
                  file=sys.stderr)
            while not _try_lock(fd):
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _by_hand(dest: Path) -> str:
    return f"fetch it by hand and save it as {dest}"


def also_missing(error: DownloadError, url: str | None, dest: Path) -> DownloadError:
    """``error`` (one file's failed download) naming ``dest`` too, a file the same model lacks
    and that would be fetched next: offline, one run names every file to fetch by hand."""
    where = f"from {url} " if url else ""
    return DownloadError(f"{error}; {dest.name} is missing too: fetch it {where}and save it as {dest}")


def _open(url: str, offset: int, dest: Path, validator: str | None):
    """The response for ``url`` from byte ``offset`` (``If-Range: validator`` with it), or
    DownloadError (one line); a server that cannot serve that range gives the whole file."""
    headers = {"User-Agent": "cspdet", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator:
            headers["If-Range"] = validator
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the .part is not a prefix of this file: start again
            e.close()
            _discard_part(dest)
            return _open(url, 0, dest, None)
        raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}; {_by_hand(dest)}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"cannot download {url} ({reason}); {_by_hand(dest)}") from None


def _start(resp, url: str, offset: int) -> tuple[int, int | None]:
    """(where the body starts, the file's total size or None) from the response headers."""
    if resp.status == 206:
        content_range = resp.headers.get("Content-Range", "")
        m = _CONTENT_RANGE.match(content_range)
        if not m or int(m.group(1)) != offset:
            raise DownloadError(f"{url}: asked for bytes from {offset}, got Content-Range {content_range!r}")
        return offset, None if m.group(2) == "*" else int(m.group(2))
    # 200: no Range asked, or the server ignored it (or If-Range failed): the body is the whole file
    length = resp.headers.get("Content-Length")
    return 0, int(length) if length is not None else None


def _validators(resp, url: str, total: int | None) -> dict:
    return {"url": url, "etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified"),
            "total": total}


def _read_part_record(dest: Path) -> dict | None:
    try:
        record = json.loads(part_record(dest).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _discard_part(dest: Path) -> None:
    part_path(dest).unlink(missing_ok=True)
    part_record(dest).unlink(missing_ok=True)


def _resume_offset(url: str, dest: Path, size: int | None) -> tuple[int, dict | None]:
    """(bytes of the ``.part`` to keep, its record): 0 unless this code started it for ``url``."""
    part = part_path(dest)
    if not part.is_file():
        part_record(dest).unlink(missing_ok=True)
        return 0, None
    record = _read_part_record(dest)
    offset = part.stat().st_size
    if record is None or record.get("url") != url or (size is not None and offset > size):
        why = "no record of where it came from" if record is None else "it was started for another URL or size"
        print(f"cspdet: discarding {part} ({why}); downloading {dest.name} from the start", file=sys.stderr)
        _discard_part(dest)
        return 0, None
    return offset, record


def download(url: str, dest: str | Path, *, size: int | None = None, sha256: str | None = None,
             check: Callable[[Path], None] | None = None, progress: bool = True) -> str:
    """Fetch ``url`` into ``dest``; returns the SHA-256 (hex) of the file.

    ``size``: the exact byte count the file must have (else the server's Content-Length is
    checked). ``sha256``: the published hash; a file with another is moved to ``<dest>.rejected``
    and refused. ``check(part)`` may raise ValueError to refuse the complete file before it is
    renamed. Prints what, from where and how big before the body is read.
    """
    dest = Path(dest)
    part = part_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset, record = _resume_offset(url, dest, size)
    if size is None or offset < size:
        _fetch(url, dest, offset, record, size, progress)
    got = part.stat().st_size
    if size is not None and got != size:
        _discard_part(dest)
        raise ValueError(f"{url}: got {got:,} bytes, expected {size:,}; not saved as {dest}")
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256:
        aside = move_aside(part, dest)
        part_record(dest).unlink(missing_ok=True)
        raise ValueError(f"{url}: SHA-256 {digest} is not the published {sha256}; not saved as {dest}, "
                         f"moved aside to {aside}")
    if check is not None:
        try:
            check(part)
        except ValueError as e:
            _discard_part(dest)
            raise ValueError(f"{url}: {e}; not saved as {dest}") from None
    part.replace(dest)
    part_record(dest).unlink(missing_ok=True)
    return digest


def _fetch(url: str, dest: Path, offset: int, record: dict | None, size: int | None, progress: bool) -> None:
    """Append the rest of ``url`` to ``dest``'s ``.part`` (resuming from ``offset`` when the
    server still serves the file ``record`` describes, else from byte 0)."""
    part = part_path(dest)
    validator = (record or {}).get("etag") or (record or {}).get("last_modified")
    resp = _open(url, offset, dest, validator)
    with resp:
        start, total = _start(resp, url, offset)
        now = _validators(resp, url, total)
        if start and any(record.get(k) != now[k] for k in ("etag", "last_modified", "total")):
            print(f"cspdet: {url} changed since {part} was started (ETag, Last-Modified or length differ); "
                  "downloading from the start", file=sys.stderr)
            resp.close()
            _discard_part(dest)
            return _fetch(url, dest, 0, None, size, progress)
        if size is not None and total is not None and total != size:
            _discard_part(dest)
            raise ValueError(f"{url}: the server has {total:,} bytes, expected {size:,}; not saved as {dest}")
        if not start:  # a fresh .part: record what it is a prefix of before its first byte
            part_record(dest).write_text(json.dumps(now) + "\n")
        total = size if size is not None else total
        verb = f"resuming at {human_size(start)} of" if start else "downloading"
        print(f"cspdet: {verb} {dest.name} ({human_size(total)}) from {url} to {dest}", file=sys.stderr)
        done = _copy(resp, part, start, total, dest.name, progress)
    if total is not None and done != total:
        raise DownloadError(f"download of {url} stopped at {done:,} of {total:,} bytes (run again to "
                            f"resume from {part}); or {_by_hand(dest)}")


def _copy(resp, part: Path, offset: int, total: int | None, name: str, progress: bool) -> int:
    """Stream the body into ``part`` from ``offset``; returns the bytes it holds after. A dropped
    connection ends the copy early (the caller reports it); what arrived is kept for a resume."""
    from tqdm import tqdm

    done = offset
    with open(part, "r+b" if offset else "wb") as f, \
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=name, disable=not progress,
                 file=sys.stderr) as bar:
        f.seek(offset)
        f.truncate()
        while True:
            try:
                block = resp.read(CHUNK)
            except (http.client.IncompleteRead, OSError) as e:
                if isinstance(e, http.client.IncompleteRead) and e.partial:
                    f.write(e.partial)
                    done += len(e.partial)
                break
            if not block:
                break
            f.write(block)
            done += len(block)
            bar.update(len(block))
    return done
