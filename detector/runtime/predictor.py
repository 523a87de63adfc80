"""``Detector``: the Python API over any backend, with the one pre/post-processing pipeline."""
from __future__ import annotations

import copy
import numbers
import os
import time
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..checks import IMG_SIZE, NONNEGATIVE_INT, POSITIVE_INT, PROBABILITY, class_ids, flag, model_path, optional
from ..data.coco import category_ids_for
from ..geometry.letterbox import preprocess, scale_boxes
from ..geometry.nms import Detections, postprocess
from ..geometry.nms import nms_kind as nms_kind_name
from ..io.images import read_image
from ..resources import default_model
from .backends import Backend, load_backend
from .results import Results
from .tiling import Tiler
from .tta import augmented_rows


def model_category_ids(backend) -> list[int] | None:
    """The COCO category ids a model file carries (a checkpoint trained on a COCO JSON, or its
    ONNX export's metadata), else None. Read from the backends' own members (the torch module,
    the ONNX metadata) rather than the protocol: only these two formats can hold them."""
    meta = getattr(getattr(backend, "meta", None), "meta", None)
    if isinstance(meta, dict):  # first: OpenVINO's ``model`` is its own graph, not a torch module
        return meta.get("category_ids")
    return getattr(getattr(backend, "model", None), "category_ids", None)


class Detector:
    """Load a model once, then ``det(img)`` for a BGR array or a path (-> Results) or a list of
    them (-> list of Results). Boxes come back in original-image pixels.

    ``weights``: a .pt checkpoint, .onnx, an OpenVINO IR .xml, .engine, a YAML config or name
    (random weights), a Darknet .cfg / .weights (pass ``cfg=`` with .weights), or a zoo name such as ``"yolov4"``
    (``cspdet models``; fetched into the cache on first use); left out, the bundled shapes model
    (``cspdet detect``'s default). ``backend``: ``auto`` (None) runs a runtime file by its
    suffix, and a model PyTorch runs on the fastest exact runtime installed (``backends.auto``:
    exported once to a cache; ``backend_choice`` says which and why; ``dynamic`` exports it for
    inputs of any size, as ``predict(size=...)`` needs); or torch, onnxruntime, opencv, openvino or
    tensorrt. ``spin``: busy-waiting worker threads (PyTorch's only when ``CSPDET_SPIN=1`` was set
    before ``import detector``: ``detector.waiting``). ``category_ids``
    are the COCO ids ``Results.to_coco`` writes (``data.coco.category_ids_for``). ``classes``
    keeps only these classes (indices or names). ``augment``: test-time augmentation
    (``runtime.tta``, yolov5's ``--augment``), about 2-3x the inference time. Every argument is
    checked as its ``cspdet`` flag is (``detector.checks``): a bad value is a one-line
    ValueError, a bad type a TypeError.

    ``tile``: run overlapping ``tile`` x ``tile`` windows (sharing ``tile_overlap`` of a side) plus
    the whole image, and merge their boxes (``tile_merge`` "edge", "nmm" or "nms"; ``runtime.tiling``):
    small objects in large images. ``nms_kind`` overrides the model's NMS (Darknet cfgs with
    ``nms_kind=diounms`` bring "diou" with their ``beta_nms``; else "iou").
    """

    def __init__(self, weights: str | Path | None = None, *, backend: str | None = None, device: str = "",
                 img_size: int | None = None, conf_thres: float = 0.25, iou_thres: float = 0.45,
                 max_det: int = 300, classes: Sequence[int | str] | None = None, agnostic: bool = False,
                 threads: int | None = None, cfg: str | None = None, half: bool = False, spin: bool = False,
                 augment: bool = False, tile: int | None = None, tile_overlap: float = 0.2,
                 tile_merge: str = "edge", nms_kind: str | None = None, dynamic: bool = False):
        weights = model_path(default_model() if weights is None else weights)
        img_size, threads = optional(IMG_SIZE, img_size, "img_size"), optional(POSITIVE_INT, threads, "threads")
        nms = dict(conf_thres=PROBABILITY(conf_thres, "conf_thres"), iou_thres=PROBABILITY(iou_thres, "iou_thres"),
                   max_det=POSITIVE_INT(max_det, "max_det"), agnostic=flag(agnostic, "agnostic"))
        half, spin, self.augment = flag(half, "half"), flag(spin, "spin"), flag(augment, "augment")
        self.backend: Backend = load_backend(weights, backend, device=device, threads=threads,
                                    img_size=img_size, cfg=cfg, half=half, spin=spin,
                                    dynamic=flag(dynamic, "dynamic"))
        self.backend_choice = getattr(self.backend, "choice", None)  # auto's Choice, else None
        # the device the backend settled on ('' means auto: CUDA where that runtime has it)
        self.threads, self.device = threads, str(self.backend.device)
        self.names = list(self.backend.names)
        self.category_ids = category_ids_for(self.names, model_category_ids(self.backend))
        self.img_size = self._input_size(img_size)
        spec = self.backend.spec  # None on a backend that carries no head spec: plain IoU-NMS
        self.nms = dict(nms, classes=class_ids(classes, self.names),
                        nms_kind=nms_kind_name(nms_kind or getattr(spec, "nms_kind", "iou")),
                        beta_nms=getattr(spec, "beta_nms", 1.0))
        self.tiler = Tiler(tile, tile_overlap, merge=tile_merge) if tile else None

    def _input_size(self, img_size: int | None) -> tuple[int, int]:
        """The letterbox size: a static model's own, else ``img_size`` rounded up to the stride."""
        fixed = self.backend.input_size
        if fixed is not None:
            if img_size and tuple(fixed) != (img_size, img_size):
                warnings.warn(f"--img-size {img_size} ignored: the model was exported for "
                              f"{fixed[0]}x{fixed[1]} and runs at that size", stacklevel=3)
            return tuple(fixed)
        size = img_size or self.backend.default_size
        stride = max(self.backend.spec.strides)
        rounded = -(-size // stride) * stride
        if rounded != size:
            warnings.warn(f"--img-size {size} is not a multiple of the stride {stride}; using {rounded}",
                          stacklevel=3)
        return (rounded, rounded)

    @property
    def can_stream(self) -> bool:
        """Whether ``replicas`` can run frames in parallel on this backend and device."""
        return self.backend.streams and self.device.startswith("cpu")

    def check_streams(self, n: int) -> None:
        """Raise ValueError unless ``replicas(n)`` can run here."""
        if n < 1:
            raise ValueError(f"--streams must be at least 1, got {n}")
        if n > 1 and not self.can_stream:
            raise ValueError(f"--streams {n}: parallel streams need CPU inference on onnxruntime, openvino or torch "
                             f"(here {self.backend.name} on {self.device})")

    def replicas(self, n: int) -> list["Detector"]:
        """``n`` detectors over this one's model, for ``n`` frames inferred at once: the CPU
        threads (``threads``, else every core) are split between them. On CPU that beats one
        multi-threaded inference at a time, whose threads idle at every small op. Pair it with
        ``end_streams()`` when the streams are done (``detect_stream`` does)."""
        self.check_streams(n)
        if n == 1:
            return [self]
        per = max(1, (self.threads or os.cpu_count() or 1) // n)
        twins = []
        for backend in self.backend.replicas(n, per):
            twin = copy.copy(self)
            twin.backend = backend
            twins.append(twin)
        return twins

    def end_streams(self) -> None:
        """Undo what ``replicas`` changed process-wide (PyTorch's thread count)."""
        self.backend.end_replicas()

    @property
    def max_batch(self) -> int | None:
        return self.backend.batch

    def preprocess(self, images: list[np.ndarray], size: tuple[int, int] | None = None):
        """BGR images -> (blob [B, 3, h, w], letterbox infos); ``size`` (h, w) replaces ``img_size``
        for this call (a multiple of the stride that the backend takes: the caller checks). With
        tiling, every window of every image -> (blob [C, 3, h, w], TilePlan)."""
        if self.tiler is not None:
            return self.tiler.preprocess(images, size or self.img_size)
        return preprocess(images, size or self.img_size)

    def infer(self, blob: np.ndarray) -> np.ndarray:
        """blob [B, 3, h, w] -> decoded [B, N, 5 + nc] (with ``augment``: the rows of every pass)."""
        if self.augment:
            return augmented_rows(self._infer, blob, self.backend.spec, same_shape=self.backend.input_size is not None)
        return self._infer(blob)

    def _infer(self, blob: np.ndarray) -> np.ndarray:
        """blob [B, 3, h, w] -> decoded [B, N, 5 + nc]; splits batches a static model cannot take
        (and tiles into ``tiler.batch``-sized calls)."""
        n, static = len(blob), self.backend.batch
        step = static or (self.tiler.batch if self.tiler is not None else None)
        if not step or step == n or (not static and n < step):
            return self.backend(blob)
        if static and n % step:
            pad = np.zeros((step - n % step, *blob.shape[1:]), blob.dtype)
            blob = np.concatenate([blob, pad])
        out = np.concatenate([self.backend(blob[i:i + step]) for i in range(0, len(blob), step)])
        return out[:n]

    def postprocess(self, pred: np.ndarray, infos, images, paths=None, nms: dict | None = None) -> list[Results]:
        """decoded [B, N, 5 + nc] -> one Results per image; ``nms`` (``self.nms``'s keys) replaces
        the thresholds for this call."""
        nms = self.nms if nms is None else nms
        if self.tiler is not None:
            dets = self.tiler.postprocess(pred, infos, nms)  # already in image pixels
        else:
            dets = [Detections(scale_boxes(d.boxes, info), d.scores, d.class_ids)
                    for d, info in zip(postprocess(pred[:len(infos)], **nms), infos)]
        return [Results(d.boxes, d.scores, d.class_ids, self.names, images[i], paths[i] if paths else None,
                        category_ids=self.category_ids) for i, d in enumerate(dets)]

    def predict(self, images: list[np.ndarray], paths: list[str] | None = None,
                size: tuple[int, int] | None = None) -> list[Results]:
        """Run the whole pipeline on BGR images; each Results carries its ``speed`` in ms.
        ``size``: this call's input (h, w), multiples of the stride, on a model that takes any
        size (``cspdet val --rect``'s batches shaped by aspect ratio)."""
        if size is not None and self.backend.input_size is not None and tuple(size) != tuple(self.img_size):
            raise ValueError(f"--rect: this {self.backend.name} model takes only {self.img_size[0]}x{self.img_size[1]} "
                             "inputs; run a .pt (or a --dynamic ONNX export) for batches shaped by aspect ratio")
        t0 = time.perf_counter()
        blob, infos = self.preprocess(images, size)
        t1 = time.perf_counter()
        pred = self.infer(blob)
        t2 = time.perf_counter()
        results = self.postprocess(pred, infos, images, paths)
        t3 = time.perf_counter()
        n = len(images)
        speed = {"pre": (t1 - t0) * 1e3 / n, "inference": (t2 - t1) * 1e3 / n, "post": (t3 - t2) * 1e3 / n}
        for r in results:
            r.speed = dict(speed)
        return results

    def track(self, frames, *, tracker=None, trail: int = 0, adaptive=None, **tracker_args) -> Iterator[Results]:
        """Track objects over ``frames`` in order: a source spec (video, folder of frames, webcam
        index, stream URL; read with prefetching) or an iterable of BGR arrays -> one Results per
        frame, its tracked boxes with ``ids`` [T]. ``tracker_args`` go to ``ByteTracker`` (pass
        your own ``tracker`` to read ``tracker.summary()`` afterwards). ByteTrack's second round
        uses boxes down to 0.1: build the Detector with ``conf_thres=0.1`` as ``cspdet track`` does.
        ``adaptive``: True or a ``KeyFramePolicy`` to call the model on key frames only, as
        ``cspdet track --adaptive`` (``tracking/adaptive.py``). The arguments are checked here,
        before the first frame."""
        from .tracking import ByteTracker, TrackSession

        if isinstance(frames, numbers.Integral) and not isinstance(frames, bool):  # a webcam, as --source 0
            frames = str(NONNEGATIVE_INT(frames, "frames"))
        if not isinstance(frames, (str, os.PathLike)) and (isinstance(frames, np.ndarray) or not hasattr(frames, "__iter__")):
            raise TypeError(f"frames: expected a source (video, folder, webcam index, stream URL) or an iterable "
                            f"of BGR arrays, got {_described(frames)}")
        session = TrackSession(tracker or ByteTracker(**tracker_args), self.names,
                               trail=NONNEGATIVE_INT(trail, "trail"))
        keyed = None
        if adaptive:
            from .tracking.adaptive import AdaptiveTracker

            keyed = AdaptiveTracker(self, session, None if adaptive is True else adaptive, flow=True)
        return self._track(frames, session, keyed)

    def _track(self, frames, session, keyed) -> Iterator[Results]:
        if not isinstance(frames, (str, os.PathLike)):
            for i, img in enumerate(frames):
                img = self._as_image(img, f"frames[{i}]")
                yield keyed(img, i + 1) if keyed else session.track(self(img), i + 1)
            return
        from .pipeline import detect_stream
        from .sources import open_source
        from .tracking.adaptive import adaptive_stream

        src = open_source(str(frames), videos=False)
        try:
            for item in adaptive_stream(keyed, src) if keyed else session.wrap(detect_stream(self, src)):
                if item.result is not None:
                    yield item.result
        finally:
            src.close()

    def __call__(self, source):
        """A BGR uint8 array [H, W, 3] or an image path -> Results; a list or tuple of them ->
        list of Results. Anything else is a TypeError naming the item."""
        if isinstance(source, (list, tuple)):
            images = [self._as_image(s, f"source[{i}]") for i, s in enumerate(source)]
            paths = [str(s) if not isinstance(s, np.ndarray) else None for s in source]
            return self.predict(images, paths) if images else []
        return self.predict([self._as_image(source)],
                            [None if isinstance(source, np.ndarray) else str(source)])[0]

    @staticmethod
    def _as_image(src, where: str = "source") -> np.ndarray:
        if isinstance(src, np.ndarray):
            if src.ndim != 3 or src.shape[2] != 3 or src.dtype != np.uint8:
                raise ValueError(f"Detector: images must be HxWx3 uint8 BGR arrays, got {src.shape} {src.dtype}")
            return src
        if isinstance(src, (str, os.PathLike)):
            return read_image(src)
        raise TypeError(f"{where}: expected a BGR uint8 array (HxWx3) or an image path, got {_described(src)}")


def _described(value) -> str:
    """What a refused argument is, with a hint for the usual mix-ups."""
    kind = type(value).__name__
    if hasattr(value, "__next__"):
        return f"a {kind} (pass a list, or call per frame: [det(f) for f in frames])"
    if isinstance(value, (list, tuple)):
        return f"a {kind} (a list of images holds arrays or paths, not lists)"
    return f"{value!r:.60} ({kind})"
