"""Request bytes -> detections, through the runtime's ``Detector`` and the dynamic batcher.

The HTTP routes and the stream followers both come here. Decoding and letterboxing run in a
thread pool (OpenCV releases the GIL), inference on the batcher's thread, NMS and scaling back in
the pool again: the event loop only moves bytes. Letterbox, decode, NMS and scaling are
``Detector.preprocess`` / ``infer`` / ``postprocess``; nothing here re-implements them.
"""
from __future__ import annotations

import asyncio
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..io.images import ImageError, PixelCapError, decode_image
from ..runtime.draw import PALETTE
from ..runtime.results import Results
from .batching import Admission, Batcher, BatchInfo
from .config import ServeConfig

# What a body must start with to be decoded at all (WebP: RIFF....WEBP).
_MAGIC = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"))


class RequestError(Exception):
    """A request the service refuses: ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def image_format(data: bytes) -> str | None:
    """'jpeg', 'png' or 'webp' from the first bytes, else None (the body is not one of them)."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return "webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


@dataclass
class Options:
    """One request's thresholds (``Detector.nms``'s keys) and letterbox ``size`` (h, w)."""

    nms: dict
    size: tuple[int, int]


@dataclass
class Detection:
    """One image's outcome: ``result`` in original pixels, ``timings`` in ms, the batch it joined."""

    result: Results
    timings: dict[str, float] = field(default_factory=dict)
    batch: int = 1


class DetectionService:
    """A loaded ``Detector`` behind an ``Admission`` and a ``Batcher``; see the module docstring."""

    def __init__(self, det, config: ServeConfig, model_name: str):
        self.det, self.config, self.model_name = det, config, model_name
        self.admission = Admission(config.queue, lambda n: max(1, math.ceil(self.batcher.seconds_for(n))))
        self.batcher = Batcher(det.infer, max_batch=config.max_batch, max_wait=config.max_wait_ms / 1e3,
                               incoming=lambda: self.admission.preparing)
        self.pool = ThreadPoolExecutor(max(4, (os.cpu_count() or 1) + 2), thread_name_prefix="cspdet-prep")
        self.ready = False

    # -- options ----------------------------------------------------------------------------
    def options(self, *, conf: float | None = None, iou: float | None = None, classes: Sequence[int] | None = None,
                max_det: int | None = None, img_size: int | None = None, agnostic: bool | None = None) -> Options:
        """A request's options over the server's defaults; RequestError(422) naming the option."""
        nms = dict(self.det.nms)
        for key, value in (("conf_thres", conf), ("iou_thres", iou), ("max_det", max_det), ("agnostic", agnostic)):
            if value is not None:
                nms[key] = value
        if classes is not None:
            nc = len(self.det.names)
            bad = [c for c in classes if not 0 <= c < nc]
            if bad:
                raise RequestError(422, f"classes: {bad[0]} is not a class id of this model (0..{nc - 1})")
            nms["classes"] = list(classes)
        return Options(nms, self._size(img_size))

    def _size(self, img_size: int | None) -> tuple[int, int]:
        if img_size is None:
            return self.det.img_size
        fixed, stride = self.det.backend.input_size, max(self.det.backend.spec.strides)
        if fixed is not None and tuple(fixed) != (img_size, img_size):
            raise RequestError(422, f"img_size: this model was exported for {fixed[0]}x{fixed[1]} and runs at "
                                    "that size only")
        if img_size % stride or not stride <= img_size <= self.config.max_img_size:
            raise RequestError(422, f"img_size: {img_size} must be a multiple of {stride} from {stride} to "
                                    f"{self.config.max_img_size} (--max-img-size)")
        return (img_size, img_size)

    # -- the pipeline -----------------------------------------------------------------------
    def decode(self, data: bytes) -> np.ndarray:
        """An upload's bytes -> BGR image; 415 for anything but a JPEG, PNG or WebP that decodes,
        413 for one whose header claims more than --max-pixels (checked before decoding)."""
        if image_format(data) is None:
            raise RequestError(415, "the body is not a JPEG, PNG or WebP image")
        try:
            return decode_image(data, "image", cap=self.config.max_pixels, cap_name="--max-pixels",
                                require_header=True)
        except PixelCapError as e:
            raise RequestError(413, str(e)) from None
        except ImageError as e:
            raise RequestError(415, str(e)) from None

    def _prepare(self, data: bytes | np.ndarray, size: tuple[int, int]):
        t0 = time.perf_counter()
        img = self.decode(data) if isinstance(data, bytes) else data
        t1 = time.perf_counter()
        blob, infos = self.det.preprocess([img], size)
        return img, blob, infos[0], (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3

    def _post(self, pred: np.ndarray, info, img: np.ndarray, opts: Options) -> tuple[Results, float]:
        t0 = time.perf_counter()
        result = self.det.postprocess(pred, [info], [img], nms=opts.nms)[0]
        return result, (time.perf_counter() - t0) * 1e3

    @staticmethod
    def _timings(decode_ms, pre_ms, info: BatchInfo, post_ms, start) -> dict[str, float]:
        return {"decode": decode_ms, "pre": pre_ms, "queue": info.queue_ms, "inference": info.inference_ms,
                "post": post_ms, "total": (time.perf_counter() - start) * 1e3}

    async def detect(self, data: bytes, opts: Options) -> Detection:
        """Bytes of one image -> Detection, off the event loop; RequestError (413, 415, 503)."""
        if image_format(data) is None:  # before taking a slot: refusing costs nothing
            raise RequestError(415, "the body is not a JPEG, PNG or WebP image")
        loop, start = asyncio.get_running_loop(), time.perf_counter()
        with self.admission.slot() as slot:
            img, blob, info, decode_ms, pre_ms = await loop.run_in_executor(self.pool, self._prepare, data, opts.size)
            slot.handed()  # before submit: the batcher must never wait for an image already queued
            pred, binfo = await asyncio.wrap_future(self.batcher.submit(blob))
            result, post_ms = await loop.run_in_executor(self.pool, self._post, pred, info, img, opts)
        return Detection(result, self._timings(decode_ms, pre_ms, binfo, post_ms, start), binfo.size)

    def detect_frame(self, img: np.ndarray, opts: Options) -> Detection:
        """The same for a decoded frame, from a stream's own thread (Overloaded when full)."""
        start = time.perf_counter()
        with self.admission.slot() as slot:
            _, blob, info, _, pre_ms = self._prepare(img, opts.size)
            slot.handed()
            pred, binfo = self.batcher.submit(blob).result()
            result, post_ms = self._post(pred, info, img, opts)
        return Detection(result, self._timings(0.0, pre_ms, binfo, post_ms, start), binfo.size)

    def warm_up(self) -> None:
        """One inference at the default size, so the first request does not pay for it."""
        h, w = self.det.img_size
        self.detect_frame(np.full((h, w, 3), 114, np.uint8), self.options())
        self.ready = True

    def close(self) -> None:
        self.ready = False
        self.batcher.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- outputs ----------------------------------------------------------------------------
    def detections_json(self, result: Results) -> list[dict]:
        """Boxes in original pixels with scores, class ids, COCO category ids (``data.coco``'s one
        rule, as ``Detector.category_ids``) and names; ``track_id`` when tracked."""
        ids = self.det.category_ids
        out = []
        tracks = result.ids.tolist() if result.ids is not None else None
        for k, (box, score, cls) in enumerate(zip(result.xyxy.tolist(), result.scores.tolist(),
                                                  result.class_ids.tolist())):
            item = {"box": [round(v, 2) for v in box], "score": round(score, 4), "class_id": int(cls),
                    "category_id": int(ids[cls]), "name": result.names[cls]}
            if tracks is not None:
                item["track_id"] = int(tracks[k])
            out.append(item)
        return out

    def response_json(self, d: Detection, request_id: str | None = None) -> dict:
        h, w = d.result.orig_img.shape[:2]
        return {"request_id": request_id, "model": self.model_name, "image": {"width": w, "height": h},
                "detections": self.detections_json(d.result), "batch": d.batch,
                "timings_ms": {k: round(v, 3) for k, v in d.timings.items()}}

    def model_json(self) -> dict:
        b = self.det.backend
        return {"name": self.model_name, "backend": b.name, "device": self.det.device,
                "img_size": list(self.det.img_size), "fixed_size": b.input_size is not None,
                "classes": list(self.det.names), "category_ids": list(self.det.category_ids),
                "strides": list(b.spec.strides), "defaults": {k: v for k, v in self.det.nms.items()},
                "max_batch": self.config.max_batch, "max_wait_ms": self.config.max_wait_ms,
                "palette": PALETTE[:, ::-1].tolist()}  # the class colours of annotated images, as RGB

    @staticmethod
    def annotated_jpeg(result: Results, quality: int = 90) -> bytes:
        ok, buf = cv2.imencode(".jpg", result.plot(), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("cannot encode the annotated image as JPEG")
        return buf.tobytes()


def model_name(weights: str | Path) -> str:
    """The name /v1/models reports: the weights' file stem (or the config/zoo name as given)."""
    return Path(str(weights)).stem or str(weights)
