"""HTTP download of one file into a cache, stdlib only (``urllib``).

The bytes go to ``<dest>.part``, which becomes ``dest`` only once it holds every byte and passes
the caller's check; an interrupted transfer keeps the ``.part`` and the next call resumes it with
an HTTP ``Range`` request. Every failure is one line naming the URL and ``dest``, the path where
a copy fetched by hand is picked up instead.
"""
from __future__ import annotations

import hashlib
import http.client
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _by_hand(dest: Path) -> str:
    return f"fetch it by hand and save it as {dest}"


def also_missing(error: DownloadError, url: str | None, dest: Path) -> DownloadError:
    """``error`` (one file's failed download) naming ``dest`` too, a file the same model lacks
    and that would be fetched next: offline, one run names every file to fetch by hand."""
    where = f"from {url} " if url else ""
    return DownloadError(f"{error}; {dest.name} is missing too: fetch it {where}and save it as {dest}")


def _open(url: str, offset: int, dest: Path):
    """The response for ``url`` from byte ``offset``, or DownloadError (one line)."""
    headers = {"User-Agent": "cspdet", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the .part is not a prefix of this file: start again
            e.close()
            part_path(dest).unlink()
            return _open(url, 0, dest)
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
    # 200: no Range asked, or the server ignored it: the body is the whole file
    length = resp.headers.get("Content-Length")
    return 0, int(length) if length is not None else None


def download(url: str, dest: str | Path, *, size: int | None = None,
             check: Callable[[Path], None] | None = None, progress: bool = True) -> str:
    """Fetch ``url`` into ``dest``; returns the SHA-256 (hex) of the file.

    ``size``: the exact byte count the file must have (else the server's Content-Length is
    checked). ``check(part)`` may raise ValueError to refuse the complete file before it is
    renamed. Prints what, from where and how big before the body is read.
    """
    dest = Path(dest)
    part = part_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    if size is None or offset < size:
        _fetch(url, dest, offset, size, progress)
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink()
        raise ValueError(f"{url}: got {got:,} bytes, expected {size:,}; not saved as {dest}")
    if check is not None:
        try:
            check(part)
        except ValueError as e:
            part.unlink()
            raise ValueError(f"{url}: {e}; not saved as {dest}") from None
    digest = sha256_file(part)
    part.replace(dest)
    return digest


def _fetch(url: str, dest: Path, offset: int, size: int | None, progress: bool) -> None:
    """Append the rest of ``url`` to ``dest``'s ``.part`` (resuming from ``offset``)."""
    part = part_path(dest)
    with _open(url, offset, dest) as resp:
        offset, total = _start(resp, url, offset)
        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)
            raise ValueError(f"{url}: the server has {total:,} bytes, expected {size:,}; not saved as {dest}")
        total = size if size is not None else total
        verb = f"resuming at {human_size(offset)} of" if offset else "downloading"
        print(f"cspdet: {verb} {dest.name} ({human_size(total)}) from {url} to {dest}", file=sys.stderr)
        done = _copy(resp, part, offset, total, dest.name, progress)
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
