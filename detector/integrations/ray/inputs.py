"""What ``cspdet batch --source`` names, as two ordered lists: images and videos.

The driver lists the inputs itself, in order, before anything runs: the order numbers the images
(``data.coco``'s image ids, exactly as ``cspdet detect`` numbers the same files) and names their
outputs (``runtime.sources.output_names``). Local folders, globs and ``.txt`` lists go through
``io.images.list_images``; a Parquet or CSV file (or folder of them, local or a URI) is read with
pyarrow's datasets, the reader under Ray Data's own ``read_parquet``/``read_csv``, which keeps
the rows' order; a URI folder is listed through pyarrow's filesystems.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ...io.images import IMAGE_SUFFIXES, list_images
from ...runtime.sources import VIDEO_SUFFIXES, output_names

TABLE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
MEDIA_SUFFIXES = IMAGE_SUFFIXES | frozenset(VIDEO_SUFFIXES)


@dataclass
class Inputs:
    """Absolute paths or URIs, in source order, with the name each one's outputs take."""

    images: list[str] = field(default_factory=list)
    image_names: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    video_names: list[str] = field(default_factory=list)


def is_uri(spec: str) -> bool:
    return "://" in spec


def table_format(spec: str) -> str | None:
    return TABLE_FORMATS.get(PurePosixPath(spec.rstrip("/")).suffix.lower())


def list_inputs(source: str, *, column: str = "path", recursive: bool = False) -> Inputs:
    """Images and videos of ``source`` (see the module docstring); FileNotFoundError or
    ValueError with a one-line message naming ``--source`` or ``--column``."""
    fmt = table_format(source)
    if fmt is not None:
        entries = read_column(source, fmt, column)
    elif is_uri(source):
        entries = list_uri(source, recursive)
    else:
        path = Path(source)
        if not path.exists() and not any(ch in source for ch in "*?["):
            raise FileNotFoundError(f"--source {source}: no such file or folder")
        entries = [str(p.absolute()) for p in list_images(source, recursive, MEDIA_SUFFIXES)]
    if not entries:
        hint = " (subfolders need --recursive)" if Path(source).is_dir() and not recursive else ""
        raise FileNotFoundError(f"--source {source}: no images or videos found{hint}")
    out = Inputs()
    for entry in entries:
        video = PurePosixPath(entry).suffix.lower() in VIDEO_SUFFIXES
        (out.videos if video else out.images).append(entry)
    out.image_names, out.video_names = names_for(out.images), names_for(out.videos)
    return out


def names_for(entries: list[str]) -> list[str]:
    """``output_names`` of local paths and URIs alike (a URI's scheme is left out)."""
    return output_names([Path(e.split("://", 1)[-1]) for e in entries])


def read_column(source: str, fmt: str, column: str) -> list[str]:
    """The non-empty strings of ``column``, in row order; relative local paths are taken
    relative to the table's folder, as a ``.txt`` list's are."""
    import pyarrow.dataset as pads

    try:
        dataset = pads.dataset(source, format=fmt)
        if column not in dataset.schema.names:
            raise ValueError(f"--source {source}: no column {column!r} (columns: {', '.join(dataset.schema.names)}); "
                             "pass --column")
        values = dataset.to_table(columns=[column]).column(column).to_pylist()
    except FileNotFoundError:
        raise FileNotFoundError(f"--source {source}: no such file or folder") from None
    except OSError as e:  # pyarrow's I/O and parse errors
        raise ValueError(f"--source {source}: cannot read it as {fmt} ({' '.join(str(e).split())[:200]})") from None
    base = Path(source) if Path(source).is_dir() or is_uri(source) else Path(source).parent
    out = []
    for v in values:
        if v is None or not str(v).strip():
            continue
        v = str(v).strip()
        out.append(v if is_uri(v) or Path(v).is_absolute() else str((base / v).absolute()))
    return out


def list_uri(source: str, recursive: bool) -> list[str]:
    """Media files under a URI folder (``s3://bucket/prefix/``), or the URI itself if it is a file."""
    from pyarrow import fs as pafs

    try:
        fs, inner = pafs.FileSystem.from_uri(source)
        info = fs.get_file_info(inner)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"--source {source}: no such file or folder")
        if info.type == pafs.FileType.File:
            return [source]
        found = fs.get_file_info(pafs.FileSelector(inner, recursive=recursive))
    except (OSError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"--source {source}: cannot list it ({' '.join(str(e).split())[:200]})") from None
    prefix = source[:len(source) - len(inner)] if source.endswith(inner) else source.split("://")[0] + "://"
    return sorted(prefix + f.path for f in found
                  if f.type == pafs.FileType.File and PurePosixPath(f.path).suffix.lower() in MEDIA_SUFFIXES)
