"""What ``cspdet batch`` writes into its run folder, from the tables the actors return.

``results.parquet`` (one row per image, source order, ``image_id`` by ``data.coco``'s rule),
``predictions.json`` (+ ``image_ids.json``) through ``runtime.sinks.write_coco`` (the writer of
``cspdet detect --save-json``), annotated images as they arrive, and ``videos/<name>.parquet``
per video. The tables are kept on the driver until the end because the image ids depend on
every image that was read (ids are numbered over the readable images in source order); a row
holds its boxes as float32 lists, about 100 bytes plus 24 a box. Every file is written under
a temporary name and renamed, so Ctrl-C or a crash never leaves half of one.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ...io.files import atomic_output, write_bytes
from ...runtime.results import Results
from ...runtime.sinks import Written, encoded_path, short_name, write_coco
from .video import PARTIAL


def write_parquet(path: Path, table) -> None:
    import pyarrow.parquet as pq

    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def list_rows(column, width: int = 0) -> list[np.ndarray]:
    """An Arrow list column -> one numpy array per row ([K] or, with ``width``, [K, width]); a
    null row gives an empty one. Sliced from the flat values once, not read scalar by scalar."""
    lists = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    offsets = lists.offsets.to_numpy()
    values = lists.values.flatten() if width else lists.values
    flat = values.to_numpy(zero_copy_only=False)
    if width:
        flat = flat.reshape(-1, width)
    return [flat[offsets[i]:offsets[i + 1]] for i in range(len(lists))]


class ImageOutputs:
    """Collects the image rows of a run; ``add`` per arriving table, ``close`` writes the files."""

    def __init__(self, run_dir: Path, names: list[str], category_ids: list[int]):
        self.dir, self.names, self.category_ids = run_dir, names, category_ids
        self.tables: list = []
        self.images = self.detections = self.skipped = self.duplicates = 0
        self.seen: set[int] = set()

    def add(self, table) -> list[str]:
        """Keep a table's rows (an index seen before is dropped and counted: each image is in
        the output once) and write its annotated images -> the errors of its rows."""
        import pyarrow as pa
        import pyarrow.compute as pc

        index = table.column("index").to_pylist()
        fresh = [i not in self.seen for i in index]
        self.duplicates += fresh.count(False)
        if not all(fresh):
            table = table.filter(pa.array(fresh))
            index = table.column("index").to_pylist()
        self.seen.update(index)
        images = table.column("annotated").to_pylist() if "annotated" in table.column_names else []
        self.tables.append(table.drop_columns(["annotated"]) if images else table)
        errors = [e for e in table.column("error").to_pylist() if e is not None]
        self.images += table.num_rows - len(errors)
        self.skipped += len(errors)
        self.detections += int(pc.sum(pc.list_value_length(table.column("scores"))).as_py() or 0)
        for name, data in zip(table.column("name").to_pylist(), images):
            if data is not None:
                out = self.dir / encoded_path(short_name(Path(name)))
                out.parent.mkdir(parents=True, exist_ok=True)
                write_bytes(out, data)
        return errors

    def close(self) -> None:
        """Write results.parquet and predictions.json for the rows received (all of them, or,
        after Ctrl-C, those done so far)."""
        import pyarrow as pa

        if not self.tables:
            return
        table = pa.concat_tables(self.tables, promote_options="default").sort_by("index")
        self.tables = []
        ids = write_coco(self.dir, list(self._written(table)))
        image_id = pa.array([ids.get(i) for i in table.column("index").to_pylist()], pa.int64())
        table = table.add_column(table.column_names.index("name") + 1, "image_id", image_id)
        write_parquet(self.dir / "results.parquet", table)

    def _written(self, table):
        """Each readable image's COCO results, as ``cspdet detect``'s Sink holds them."""
        rows = zip(table.column("index").to_pylist(), table.column("name").to_pylist(),
                   list_rows(table.column("boxes"), 4), list_rows(table.column("scores")),
                   list_rows(table.column("class_ids")), table.column("error").to_pylist())
        for index, name, boxes, scores, class_ids, error in rows:
            if error is not None:
                continue
            res = Results(boxes, scores, class_ids, self.names, category_ids=self.category_ids)
            yield Written(index, index, name, False, Path(name).stem, res.to_coco(0))


class VideoOutputs:
    """One ``videos/<name>.parquet`` per video (its frames in order); annotated videos are
    written by the actors themselves into ``videos/``, which they must see (on several nodes:
    a shared filesystem)."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir
        self.parts: dict[str, list] = {}
        self.errors: dict[str, str] = {}
        self.videos = self.frames = self.detections = self.tracks = 0

    def add(self, table) -> list[str]:
        """Keep a table's frames (a video's rows may come in several tables) -> the errors of
        videos that could not be read."""
        import pyarrow.compute as pc

        errors = []
        for name in dict.fromkeys(table.column("name").to_pylist()):
            part = table.filter(pc.equal(table.column("name"), name))
            error = part.column("error")[0].as_py()
            if error is not None:
                self.errors[name] = error
                errors.append(error)
            else:
                self.parts.setdefault(name, []).append(part)
        self.videos = len(self.parts) + len(self.errors)
        return errors

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        for name, parts in self.parts.items():
            table = pa.concat_tables(parts, promote_options="default").sort_by("frame")
            _, first = np.unique(table.column("frame").to_numpy(), return_index=True)
            table = table.take(pa.array(first))  # each frame once, whatever Ray retried
            self.frames += table.num_rows
            self.detections += int(pc.sum(pc.list_value_length(table.column("scores"))).as_py() or 0)
            if "track_ids" in table.column_names:
                self.tracks += len(pc.unique(pc.list_flatten(table.column("track_ids"))))
            write_parquet(self.dir / "videos" / short_name(Path(name)).with_suffix(".parquet"), table)
        self.parts = {}


def remove_partials(run_dir: Path) -> None:
    """Drop the temporary folders of annotated videos whose actor died before renaming them."""
    for tmp in (run_dir / "videos").glob(f"{PARTIAL}*"):
        shutil.rmtree(tmp, ignore_errors=True)
