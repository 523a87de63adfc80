"""Ray Data batches in, Arrow tables of detections out.

Detections leave as typed Arrow lists (``boxes`` list<float32[4]>, ``scores`` list<float32>,
``class_ids`` list<int32>, ``class_names`` list<string>), built from flat arrays and offsets:
left to Ray's numpy conversion, ragged per-row arrays become its own tensor extension type,
which Parquet readers outside Ray do not know.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ...runtime.results import Results

IMAGE, BYTES, PATH, NAME = "image", "bytes", "path", "name"
HEAVY = (IMAGE, BYTES)  # input columns not carried into the output


def input_columns(batch) -> dict[str, Any]:
    """A batch in any of Ray Data's formats (dict of numpy arrays, pyarrow Table, pandas
    DataFrame) -> {column: values indexable by row}."""
    if isinstance(batch, Mapping):
        return dict(batch)
    from ray.data.block import BlockAccessor

    return BlockAccessor.for_block(batch).to_numpy()


def batch_rows(cols: Mapping[str, Any]) -> int:
    return len(next(iter(cols.values()))) if cols else 0


def row_names(cols: Mapping[str, Any], n: int, fallback: str = "image") -> list[str]:
    """Each row's output name: the ``name`` column, else the file name of ``path``, else ``image{i}.jpg``."""
    if NAME in cols:
        return [str(v) for v in cols[NAME]]
    if PATH in cols:
        return [str(v).rstrip("/").rsplit("/", 1)[-1] or f"{fallback}{i}.jpg" for i, v in enumerate(cols[PATH])]
    return [f"{fallback}{i}.jpg" for i in range(n)]


def _arrow(values):
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    values = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if values.ndim > 1:
        return pa.FixedShapeTensorArray.from_numpy_ndarray(np.ascontiguousarray(values))
    return pa.array(values)


def lists(parts: Sequence[Sequence | None], value_type, width: int = 0):
    """One Arrow list per row of ``parts`` (None -> a null list); ``width`` > 0 makes the items
    fixed-size lists of that many values (boxes: 4)."""
    import pyarrow as pa

    sizes = np.array([0 if p is None else len(p) for p in parts], np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32))
    kept = [p for p in parts if p is not None and len(p)]
    if pa.types.is_string(value_type):
        values = pa.array([v for p in kept for v in p], value_type)
    else:
        dtype = value_type.to_pandas_dtype()
        flat = np.concatenate([np.asarray(p, dtype).reshape(-1) for p in kept]) if kept else np.zeros(0, dtype)
        values = pa.array(flat, value_type)
    if width:
        values = pa.FixedSizeListArray.from_arrays(values, width)
    mask = pa.array([p is None for p in parts])
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def detection_columns(results: Sequence[Results | None], tracks: bool = False) -> dict[str, Any]:
    """boxes [K, 4] x1 y1 x2 y2 in original pixels, scores [K], class_ids [K], class_names [K]
    (and track_ids [K]) per row; null lists where a row has no result."""
    import pyarrow as pa

    cols = {
        "boxes": lists([None if r is None else r.xyxy for r in results], pa.float32(), 4),
        "scores": lists([None if r is None else r.scores for r in results], pa.float32()),
        "class_ids": lists([None if r is None else r.class_ids for r in results], pa.int32()),
        "class_names": lists([None if r is None else r.labels for r in results], pa.string()),
    }
    if tracks:
        cols["track_ids"] = lists([None if r is None or r.ids is None else r.ids for r in results], pa.int64())
    return cols


def detection_table(cols: Mapping[str, Any], results: Sequence[Results | None], errors: Sequence[str | None],
                    extra: Mapping[str, Any] | None = None, tracks: bool = False,
                    shapes: Sequence[tuple[int, ...] | None] | None = None):
    """The input's light columns (all but ``image`` and ``bytes``), then the detections, ``height``
    and ``width`` of each image (``shapes``, else the results' images), ``error`` (null, or why
    the row has no result: path and reason) and ``extra`` columns -> a pyarrow Table, one row
    per result."""
    import pyarrow as pa

    out = {name: _arrow(values) for name, values in cols.items() if name not in HEAVY}
    out.update(detection_columns(results, tracks))
    if shapes is None:
        shapes = [None if r is None or r.orig_img is None else r.orig_img.shape for r in results]
    out["height"] = pa.array([None if s is None else s[0] for s in shapes], pa.int32())
    out["width"] = pa.array([None if s is None else s[1] for s in shapes], pa.int32())
    out["error"] = pa.array(list(errors), pa.string())
    out.update(extra or {})
    return pa.table(out)
