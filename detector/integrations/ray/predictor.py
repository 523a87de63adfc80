"""``BatchPredictor``: cspdet's ``Detector`` as a Ray Data callable class (Ray's own pattern for
batch inference: ``__init__`` loads the model once per actor, ``__call__`` maps a columnar batch).

Decoding is done here, from the ``path`` or ``bytes`` column, by ``detector.io.images`` (the
reader ``cspdet detect`` uses): BGR as every backend expects, the pixel cap checked from the
header before decoding, and a missing, unreadable or corrupt file turned into that row's
``error``. ``ray.data.read_images`` would decode with PIL (RGB, no cap) and a bad file would end
the job; its ``image`` column is accepted too. Each image then goes through
``runtime.pipeline.detect_stream``, the loop of ``cspdet detect`` (the next image decoded and
letterboxed in a thread while this one is inferred), so the boxes are those of ``cspdet detect``
to the bit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ...io.images import ImageError, MissingImageError, decode_image, read_image
from ...runtime.pipeline import detect_stream
from ...runtime.results import Results
from ...runtime.sinks import encode_image
from ...runtime.sources import Frame
from .columns import BYTES, IMAGE, PATH, batch_rows, detection_table, input_columns, row_names
from .model_files import local_weights


class BatchPredictor:
    """``ds.map_batches(BatchPredictor, fn_constructor_kwargs=dict(weights=...), compute=
    ray.data.ActorPoolStrategy(size=N), num_cpus=threads, batch_size=16)``.

    A batch needs one of: ``image`` (H x W x 3 uint8 arrays; RGB as ``ray.data.read_images``
    gives them, or ``channels="bgr"`` for OpenCV's; grey and 4-channel ones are converted),
    ``bytes`` (encoded image files, as ``read_binary_files`` gives them) or ``path`` (local
    paths or URIs such as ``s3://b/k.jpg``, read here through pyarrow's filesystems, the ones
    Ray Data reads with). Every other column is carried through; added per row: ``boxes``
    [K, 4] (x1, y1, x2, y2 in original pixels), ``scores`` [K], ``class_ids`` [K],
    ``class_names`` [K], ``height``, ``width``, ``error`` (null, or "path: reason" for an image
    that could not be used; its lists are null) and, with ``annotate=True``, ``annotated``
    (the image with its boxes drawn, encoded as its name's format, else JPEG).

    ``weights`` and ``detector_kwargs`` are ``Detector``'s (``threads``: the backend's CPU
    threads, which should match the actor's ``num_cpus``). ``infer_batch``: images per
    inference call; 1 (the default) is ``cspdet detect``'s path, exact to the bit and the
    fastest on CPU; a GPU gains from more, at float-rounding changes in the boxes (~1e-4 px).
    """

    def __init__(self, weights, *, channels: str = "rgb", annotate: bool = False, line_width: int | None = None,
                 labels: bool = True, infer_batch: int = 1, **detector_kwargs):
        if channels not in ("rgb", "bgr"):
            raise ValueError(f"BatchPredictor: channels must be 'rgb' or 'bgr', got {channels!r}")
        if infer_batch < 1:
            raise ValueError(f"BatchPredictor: infer_batch must be at least 1, got {infer_batch}")
        self.det = actor_detector(weights, detector_kwargs)
        self.rgb, self.annotate, self.infer_batch = channels == "rgb", annotate, infer_batch
        self.line_width, self.labels = line_width, labels
        self.reader = FileReader()

    def __call__(self, batch):
        """A Ray Data batch (any batch format) -> a pyarrow Table, one row per input row."""
        cols = input_columns(batch)
        items = self._detect(self._frames(cols, batch_rows(cols)))
        extra = {}
        if self.annotate:
            import pyarrow as pa

            extra["annotated"] = pa.array([None if r is None else self._encode(f, r) for f, r in items], pa.binary())
        return detection_table(cols, [r for _, r in items], [f.error for f, _ in items], extra)

    def _frames(self, cols, n: int) -> Iterator[Frame]:
        """Each row's image, decoded lazily (``detect_stream`` pulls them from its reader thread)."""
        kind = next((c for c in (IMAGE, BYTES, PATH) if c in cols), None)
        if kind is None:
            raise ValueError(f"BatchPredictor: a batch needs an '{IMAGE}', '{BYTES}' or '{PATH}' column; "
                             f"got {sorted(cols)}")
        names, paths = row_names(cols, n), cols.get(PATH)
        for i in range(n):
            path = str(paths[i]) if paths is not None else None
            where = path or f"row {i}"
            try:
                if kind == IMAGE:
                    img = to_bgr(cols[IMAGE][i], self.rgb, where)
                elif kind == BYTES:
                    img = decode_image(bytes(cols[BYTES][i] or b""), where)
                else:
                    img = self.reader.read(path)
                yield Frame(img, names[i], i, path=path)
            except ImageError as e:
                yield Frame(None, names[i], i, error=str(e), path=path)

    def _detect(self, frames: Iterator[Frame]) -> list[tuple[Frame, Results | None]]:
        if self.infer_batch == 1:
            return [(item.frame, item.result) for item in detect_stream(self.det, frames)]
        frames = list(frames)
        good = [f for f in frames if f.error is None]
        found: dict[int, Results] = {}
        for k in range(0, len(good), self.infer_batch):
            chunk = good[k:k + self.infer_batch]
            for f, r in zip(chunk, self.det.predict([f.image for f in chunk], [f.path for f in chunk])):
                found[f.index] = r
        return [(f, found.get(f.index)) for f in frames]

    def _encode(self, frame: Frame, result: Results) -> bytes:
        return encode_image(Path(frame.name), result.plot(frame.image, self.line_width, self.labels))


def actor_detector(weights, detector_kwargs: dict):
    """This actor's ``Detector``: shipped weights written out on this node first, and OpenCV's
    thread pool held to the actor's ``threads``, as Ray holds OpenMP's to its CPUs (two actors
    on two cores would otherwise each decode and resize on two threads)."""
    from ...runtime.predictor import Detector

    weights, detector_kwargs = local_weights(weights, detector_kwargs)
    if detector_kwargs.get("threads"):
        cv2.setNumThreads(int(detector_kwargs["threads"]))
    return Detector(weights, **detector_kwargs)


def to_bgr(arr, rgb: bool, where: str) -> np.ndarray:
    """An image array from a Ray column -> BGR uint8 [H, W, 3]; ImageError for anything else."""
    arr = np.asarray(arr)
    channels = 1 if arr.ndim == 2 else arr.shape[2] if arr.ndim == 3 else 0
    if arr.dtype != np.uint8 or channels not in (1, 3, 4) or 0 in arr.shape:
        raise ImageError(where, f"not an image array: {arr.shape} {arr.dtype} (H x W, or H x W x 1, 3 or 4 uint8; "
                                "ray.data.read_images(..., mode='RGB') gives these)")
    if channels == 1:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(arr, cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if rgb else np.ascontiguousarray(arr)


class FileReader:
    """Images by local path (``read_image``) or by URI through pyarrow's filesystems (S3 and GCS
    built in; others where the user installed them), one filesystem per scheme and bucket."""

    def __init__(self):
        self.filesystems: dict[str, tuple[object, int]] = {}

    def read(self, path: str) -> np.ndarray:
        if "://" not in path:
            return read_image(path)
        try:
            fs, inner = self.filesystem(path)
            with fs.open_input_file(inner) as f:
                data = f.read()
        except FileNotFoundError:
            raise MissingImageError(path, "no such image") from None
        except (OSError, ValueError) as e:  # pyarrow's errors are OSError (I/O) or ValueError (ArrowInvalid)
            raise ImageError(path, f"cannot read image ({' '.join(str(e).split())[:200]})") from None
        return decode_image(data, path)

    def filesystem(self, uri: str):
        """(pyarrow filesystem, path inside it) for ``uri``; made once per scheme://host."""
        from pyarrow import fs as pafs

        scheme, _, rest = uri.partition("://")
        key = f"{scheme}://{rest.split('/', 1)[0]}"
        if key in self.filesystems:
            fs, strip = self.filesystems[key]
            return fs, uri[strip:]
        fs, inner = pafs.FileSystem.from_uri(uri)
        if uri.endswith(inner):  # the part before the inner path is the same for all of this key
            self.filesystems[key] = (fs, len(uri) - len(inner))
        return fs, inner
