"""The one way cspdet finds and reads image files, and the one set of image suffixes.

``read_image(path)`` (and ``decode_image(bytes, name)`` for bytes from elsewhere, an upload)
returns BGR uint8 [H, W, 3] or raises ``ImageError`` (a ValueError) whose one-line message names
the file and the cause: missing, unreadable, empty, undecodable, or over
the pixel cap (``detector.limits.max_pixels()``, ``$CSPDET_MAX_PIXELS``). Callers that must go
on (folder runs, dataset scans) catch ``ValueError``, report the message and skip the file.
``list_images(spec)`` expands a folder, ``.txt`` list, glob pattern or file into image paths.

The cap is checked on the dimensions in the file's header before decoding: OpenCV would
otherwise allocate whatever a 2 KB file claims (a 30000 x 30000 PNG costs 45 s and 5.5 GB), and
it raises ``cv2.error`` instead of returning None for headers past its own 2^30 limit. PNG,
JPEG, BMP, WebP, TIFF and PNM headers are read here; other formats are checked after decoding.
"""
from __future__ import annotations

import glob as globlib
import re
import struct
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..limits import MAX_PIXELS_ENV, max_pixels
from .text import read_text

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".pgm", ".ppm"})
Size = tuple[int, int]  # (width, height)


class ImageError(ValueError):
    """An image that cannot be used; the message is '{path}: {reason}'."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


class MissingImageError(ImageError, FileNotFoundError):
    """No file at the path (also a FileNotFoundError, which callers caught before)."""


def _u16(data: bytes, at: int, order: str) -> int:
    return struct.unpack_from(order + "H", data, at)[0]


def _png_size(data: bytes) -> Size | None:
    return struct.unpack_from(">II", data, 16) if data[12:16] == b"IHDR" else None  # always the first chunk


def _jpeg_size(data: bytes) -> Size | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header (SOFn)
            return _u16(data, i + 7, ">"), _u16(data, i + 5, ">")
        elif marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        else:
            i += 2 + _u16(data, i + 2, ">")
    return None


def _bmp_size(data: bytes) -> Size:
    if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        return _u16(data, 18, "<"), _u16(data, 20, "<")
    w, h = struct.unpack_from("<ii", data, 18)
    return abs(w), abs(h)  # a negative height means rows stored top-down


def _webp_size(data: bytes) -> Size | None:
    if data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        return _u16(data, 26, "<") & 0x3FFF, _u16(data, 28, "<") & 0x3FFF
    return None


def _tiff_size(data: bytes) -> Size | None:
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    sides = {}
    for k in range(_u16(data, ifd, order)):
        tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * k)
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            sides[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), value)[0]
    return (sides[256], sides[257]) if len(sides) == 2 else None


def _pnm_size(data: bytes) -> Size | None:
    if data[1:2] not in b"123456":
        return None
    tokens = re.sub(rb"#[^\n]*", b" ", data[2:512]).split()
    return int(tokens[0]), int(tokens[1])


HEADER_READERS: tuple[tuple[bytes, Callable[[bytes], Size | None]], ...] = (
    (b"\x89PNG\r\n\x1a\n", _png_size), (b"\xff\xd8", _jpeg_size), (b"BM", _bmp_size),
    (b"RIFF", _webp_size), (b"II*\x00", _tiff_size), (b"MM\x00*", _tiff_size), (b"P", _pnm_size),
)


def image_size(data: bytes) -> Size | None:
    """(width, height) from an image file's header bytes, or None for formats read here not at
    all or a header too broken to say (decoding then decides)."""
    for magic, reader in HEADER_READERS:
        if data.startswith(magic):
            try:
                return reader(data)
            except (struct.error, IndexError, ValueError):
                return None
    return None


class PixelCapError(ImageError):
    """An image whose width x height is over the pixel cap (a server answers 413 for it)."""


def _check_pixels(path: str | Path, size: Size | None, cap: int | None, cap_name: str | None) -> None:
    cap = max_pixels() if cap is None else cap
    if size is not None and size[0] * size[1] > cap:
        raise PixelCapError(path, f"{size[0]}x{size[1]} image is over the cap of {cap:,} pixels "
                                  f"({cap_name or f'set ${MAX_PIXELS_ENV} to raise it'})")


def read_image(path: str | Path) -> np.ndarray:
    """BGR uint8 [H, W, 3] from an image file; ImageError (a ValueError) naming the file and the
    cause for anything that is not a readable image within the pixel cap."""
    path = Path(path)
    if not is_file(path):
        link = path.is_symlink()
        raise MissingImageError(path, "a symbolic link that loops or points to nothing" if link else "no such image")
    try:
        data = path.read_bytes()  # bytes + imdecode also handle non-ASCII paths
    except OSError as e:
        raise ImageError(path, f"cannot read image ({e.strerror or e})") from None
    return decode_image(data, path)


def decode_image(data: bytes, source: str | Path, *, cap: int | None = None, cap_name: str | None = None,
                 require_header: bool = False) -> np.ndarray:
    """BGR uint8 [H, W, 3] from an encoded image's bytes (a file's, an upload's); ImageError naming
    ``source`` for anything that is not a readable image, PixelCapError when its header (checked
    before decoding) or its decoded size is over ``cap`` pixels (default ``max_pixels()``;
    ``cap_name`` names the setting in the message). ``require_header``: refuse bytes whose size
    cannot be read from the header, so nothing of unknown size is ever decoded."""
    if not data:
        raise ImageError(source, "empty file, not an image")
    size = image_size(data)
    if size is None and require_header:
        raise ImageError(source, "not a readable image header")
    _check_pixels(source, size, cap, cap_name)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. a header past OpenCV's own size limit
        raise ImageError(source, f"cannot decode image (OpenCV: {' '.join(str(e).split())[-160:]})") from None
    if img is None:
        raise ImageError(source, "cannot decode image (corrupt or unsupported format)")
    _check_pixels(source, (img.shape[1], img.shape[0]), cap, cap_name)
    return img


def is_file(path: Path) -> bool:
    """Whether ``path`` is a regular file (links followed); False for looping or unreadable links."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_image_file(path: str | Path) -> bool:
    """A regular file (links followed) whose suffix is one of IMAGE_SUFFIXES."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_SUFFIXES and is_file(path)


def is_listed_image(path: Path) -> bool:
    """An entry a folder listing reports as an image: an image file, or a link with an image
    suffix that resolves to nothing (looping, dangling), so ``read_image`` reports it and the
    run counts it as skipped instead of it vanishing from the count."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    return is_file(path) or (path.is_symlink() and not path.is_dir())


def images_in(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Sorted images of ``folder`` (and its subfolders with ``recursive``; linked folders are not
    entered, so a link back up the tree cannot loop), broken links included (``is_listed_image``)."""
    folder = Path(folder)
    found: Iterator[Path] = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if is_listed_image(p))


def list_images(spec: str | Path, recursive: bool = False) -> list[Path]:
    """Image paths from a folder (``images_in``), a ``.txt`` list (one path per line, relative to
    the list's folder; blank and ``#`` lines skipped), a glob pattern, or one file. Listed and
    single files are not checked here: ``read_image`` reports what is wrong with them."""
    path = Path(spec)
    if path.is_dir():
        return images_in(path, recursive)
    if path.suffix.lower() == ".txt" and is_file(path):
        lines = [ln.strip() for ln in read_text(path).splitlines()]
        return [p if p.is_absolute() else path.parent / p
                for p in map(Path, (ln for ln in lines if ln and not ln.startswith("#")))]
    if any(ch in str(spec) for ch in "*?["):
        return sorted(Path(p) for p in globlib.glob(str(spec), recursive=recursive) if is_listed_image(Path(p)))
    return [path]
