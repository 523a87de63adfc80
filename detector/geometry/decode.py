"""YOLO decoding, once in numpy (runtimes) and once in torch (training, the loss, eval, the ONNX graph).

Per level with stride s, anchors [A, 2] (pixels) and scale_x_y k, for raw values t:
``xy = (sigmoid(t_xy) * k - (k - 1) / 2 + grid_xy) * s``, ``wh = exp(t_wh) * anchor``,
``obj = sigmoid(t_obj)``, ``cls = sigmoid(t_cls)``. With ``new_coords`` (YOLOv4-CSP, Darknet's
``[yolo] new_coords=1``) the maps are already logistic values v: ``xy = (v_xy * k - (k - 1) / 2
+ grid_xy) * s``, ``wh = (2 * v_wh) ** 2 * anchor``, ``obj, cls = v``. Both decoders return
[B, N, 5 + nc] rows
``cx, cy, w, h, objectness, class probabilities`` in letterboxed-input pixels, with
N = sum of A * H * W over levels, ordered (level, anchor, y, x).

Both evaluate xy as ``sigmoid(t) * gain + offset`` with gain = k * s and offset =
(grid - (k - 1) / 2) * s precomputed by ``level_constants``: the same constants feed the numpy
path and the static ONNX graph, so the two agree to float32 rounding of sigmoid/exp.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from .nms import nms_kind

Shapes = tuple[tuple[int, int], ...]  # (H, W) of each level's raw map


@dataclass(frozen=True)
class HeadSpec:
    """What decoding needs to know about a YOLO head: per level its stride, anchors as (w, h)
    pixel pairs and scale_x_y; the class count; and whether the maps use ``new_coords``. Also
    the NMS the model was made for (Darknet's ``[yolo] nms_kind``/``beta_nms``): ``nms_kind``
    "iou" (greedy) or "diou" (DIoU-NMS with exponent ``beta_nms``), carried into ONNX metadata."""

    strides: tuple[int, ...]
    anchors: tuple[tuple[tuple[float, float], ...], ...]
    scale_x_y: tuple[float, ...]
    num_classes: int
    new_coords: bool = False
    nms_kind: str = "iou"
    beta_nms: float = 1.0

    def __post_init__(self):
        n = len(self.strides)
        if len(self.anchors) != n or len(self.scale_x_y) != n or n == 0:
            raise ValueError(f"HeadSpec: {n} strides, {len(self.anchors)} anchor groups and "
                             f"{len(self.scale_x_y)} scale_x_y values must match and be non-empty")
        object.__setattr__(self, "nms_kind", nms_kind(self.nms_kind))  # Darknet's names -> iou / diou

    @property
    def num_outputs(self) -> int:
        """Values per anchor: 4 box + objectness + classes."""
        return 5 + self.num_classes

    @classmethod
    def from_model(cls, model) -> "HeadSpec":
        """From a detector's ``strides``, ``anchors`` ([A, 2] each), ``num_classes`` and, where it
        has them, ``scale_x_y`` (or ``head.scale_x_y``) and per-level ``new_coords``."""
        n = len(model.strides)
        scale = getattr(model, "scale_x_y", None) or getattr(getattr(model, "head", None), "scale_x_y", None)
        new_coords = set(getattr(model, "new_coords", None) or [False])
        if len(new_coords) > 1:
            raise ValueError(f"HeadSpec: new_coords differs between levels ({list(model.new_coords)}); "
                             "one decoder serves all levels")
        return cls.from_dict({"strides": model.strides, "anchors": [a.tolist() for a in model.anchors],
                              "scale_x_y": scale or [1.0] * n, "num_classes": model.num_classes,
                              "new_coords": new_coords.pop(), "nms_kind": getattr(model, "nms_kind", "iou"),
                              "beta_nms": getattr(model, "beta_nms", 1.0)})

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any]) -> "HeadSpec":
        """From ``to_dict()`` output or ONNX metadata (values may still be JSON strings)."""
        def get(key):
            if key not in meta:
                raise ValueError(f"HeadSpec: metadata lacks '{key}' (has {sorted(meta)})")
            v = meta[key]
            return json.loads(v) if isinstance(v, str) else v
        anchors = tuple(tuple((float(p[0]), float(p[1])) for p in np.asarray(a, dtype=float).reshape(-1, 2))
                        for a in get("anchors"))
        # absent in files from before they existed; JSON strings in ONNX metadata
        new_coords, beta = (json.loads(v) if isinstance(v, str) else v
                            for v in (meta.get("new_coords", False), meta.get("beta_nms", 1.0)))
        kind = str(meta.get("nms_kind", "iou"))
        kind = json.loads(kind) if kind.startswith('"') else kind
        return cls(tuple(int(s) for s in get("strides")), anchors, tuple(float(k) for k in get("scale_x_y")),
                   int(get("num_classes")), bool(new_coords), str(kind), float(beta))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; ``from_dict`` reads it back."""
        return {"strides": list(self.strides), "anchors": [[list(p) for p in a] for a in self.anchors],
                "scale_x_y": list(self.scale_x_y), "num_classes": self.num_classes,
                "new_coords": self.new_coords, "nms_kind": self.nms_kind, "beta_nms": self.beta_nms}


@lru_cache(maxsize=32)
def level_constants(spec: HeadSpec, shapes: Shapes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gain, offset, anchor_wh), each [N, 2] float32 and read-only, rows ordered (level, anchor, y, x)."""
    if len(shapes) != len(spec.strides):
        raise ValueError(f"decode: {len(shapes)} maps for a head with {len(spec.strides)} levels")
    gains, offsets, whs = [], [], []
    for (h, w), s, anchors, k in zip(shapes, spec.strides, spec.anchors, spec.scale_x_y):
        a = len(anchors)
        gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
        grid = np.stack([gx, gy], -1).reshape(1, h * w, 2)
        offset = (grid - np.float32((k - 1) / 2)) * np.float32(s)
        offsets.append(np.broadcast_to(offset, (a, h * w, 2)).reshape(-1, 2))
        gains.append(np.full((a * h * w, 2), k * s, np.float32))
        anchor_wh = np.asarray(anchors, np.float32).reshape(a, 1, 2)
        whs.append(np.broadcast_to(anchor_wh, (a, h * w, 2)).reshape(-1, 2))
    out = tuple(np.ascontiguousarray(np.concatenate(v), dtype=np.float32) for v in (gains, offsets, whs))
    for arr in out:
        arr.flags.writeable = False  # cached: callers must not change them
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) -> inf for x << 0 gives the right limit, 0
        return 1.0 / (1.0 + np.exp(-x))


def flatten_maps(maps: Sequence[np.ndarray], spec: HeadSpec) -> np.ndarray:
    """Raw maps [B, A * no, H, W] per level -> [B, N, no] float32, rows ordered (level, anchor, y, x)."""
    no, parts = spec.num_outputs, []
    for i, (x, anchors) in enumerate(zip(maps, spec.anchors)):
        x = np.asarray(x, dtype=np.float32)
        a = len(anchors)
        if x.ndim != 4 or x.shape[1] != a * no:
            raise ValueError(f"decode: map {i} has shape {x.shape}, expected [B, {a * no}, H, W] "
                             f"({a} anchors x (5 + {spec.num_classes}))")
        b, _, h, w = x.shape
        parts.append(x.reshape(b, a, no, h * w).transpose(0, 1, 3, 2).reshape(b, a * h * w, no))
    return np.concatenate(parts, 1)


def decode(maps: Sequence[np.ndarray], spec: HeadSpec) -> np.ndarray:
    """Numpy decoder: raw maps [B, A * (5 + nc), H, W] per level -> [B, N, 5 + nc] float32."""
    if len(maps) != len(spec.strides):
        raise ValueError(f"decode: {len(maps)} maps for a head with {len(spec.strides)} levels")
    p = flatten_maps(maps, spec)
    gain, offset, anchor_wh = level_constants(spec, tuple(tuple(m.shape[-2:]) for m in maps))
    out = np.empty_like(p)
    if spec.new_coords:  # the maps are logistic already
        out[..., 0:2] = p[..., 0:2] * gain + offset
        out[..., 2:4] = (2 * p[..., 2:4]) ** 2 * anchor_wh
        out[..., 4:] = p[..., 4:]
        return out
    out[..., 0:2] = sigmoid(p[..., 0:2]) * gain + offset
    with np.errstate(over="ignore"):  # a huge t_wh is an infinite box, as in Darknet
        out[..., 2:4] = np.exp(p[..., 2:4]) * anchor_wh
    out[..., 4:] = sigmoid(p[..., 4:])
    return out


def decode_boxes(t: torch.Tensor, gain: torch.Tensor, offset: torch.Tensor, anchor_wh: torch.Tensor,
                 new_coords: bool = False, max_t_wh: float | None = None) -> torch.Tensor:
    """Torch box formula: raw t [B, N, >= 4] with gain, offset, anchor_wh [B or 1, N, 2] (see
    ``level_constants``) -> cx, cy, w, h [B, N, 4] in input pixels.

    ``max_t_wh`` bounds t_wh in value only, the gradient passing straight through: the loss uses
    it so that exp cannot overflow into an infinite box and a NaN CIoU. Indexing is on explicit
    axes so that an ONNX trace holds plain Slice ops.
    """
    if new_coords:  # the maps are logistic already; (2v)^2 as a product, not Pow
        v_wh = t[:, :, 2:4] * 2
        return torch.cat([t[:, :, 0:2] * gain + offset, v_wh * v_wh * anchor_wh], 2)
    twh = t[:, :, 2:4]
    if max_t_wh is not None:
        twh = twh - (twh - twh.clamp(max=max_t_wh)).detach()
    return torch.cat([t[:, :, 0:2].sigmoid() * gain + offset, twh.exp() * anchor_wh], 2)


class YOLODecoder(nn.Module):
    """Torch decoder: raw maps [B, A * (5 + nc), H, W] per level -> [B, N, 5 + nc].

    With ``shapes`` (the (H, W) of every level) the grids and anchors are constant buffers and
    the traced graph holds only Reshape, Transpose, Concat, Slice, Sigmoid, Exp, Mul and Add:
    what OpenCV DNN and TensorRT accept. Without, they are built from the input shapes
    (cached per shape in eager mode; traced as Shape/Range ops for a dynamic ONNX export).
    Nothing is assigned into slices, so no ScatterND appears.
    """

    def __init__(self, spec: HeadSpec, shapes: Sequence[Sequence[int]] | None = None):
        super().__init__()
        self.spec = spec
        self.shapes: Shapes | None = tuple((int(h), int(w)) for h, w in shapes) if shapes else None
        self._cache: dict = {}
        if self.shapes is not None:
            for name, arr in zip(("gain", "offset", "anchor_wh"), level_constants(spec, self.shapes)):
                self.register_buffer(name, torch.from_numpy(arr.copy())[None], persistent=False)
        for i, a in enumerate(spec.anchors):  # buffers, so a trace records them as constants
            self.register_buffer(f"anchors{i}", torch.tensor(a, dtype=torch.float32).reshape(-1, 1, 2),
                                 persistent=False)

    @classmethod
    def from_model(cls, model, shapes: Sequence[Sequence[int]] | None = None) -> "YOLODecoder":
        return cls(HeadSpec.from_model(model), shapes)

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(maps) != len(self.spec.strides):
            raise ValueError(f"YOLODecoder: {len(maps)} maps for a head with {len(self.spec.strides)} levels")
        p = torch.cat([self.flatten(x, i) for i, x in enumerate(maps)], 1)
        gain, offset, anchor_wh = self.constants(maps, p.dtype)
        scores = p[:, :, 4:] if self.spec.new_coords else p[:, :, 4:].sigmoid()
        return torch.cat([decode_boxes(p, gain, offset, anchor_wh, self.spec.new_coords), scores], 2)

    def flatten(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """[B, A * no, H, W] -> [B, A * H * W, no]; static shapes give constant Reshape targets."""
        a, no = len(self.spec.anchors[level]), self.spec.num_outputs
        if self.shapes is None:
            b = x.shape[0]
            return x.reshape(b, a, no, -1).transpose(2, 3).reshape(b, -1, no)
        h, w = self.shapes[level]
        with warnings.catch_warnings():  # checked while tracing too: a wrong shape must not bake in
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            mismatch = tuple(x.shape[1:]) != (a * no, h, w)
        if mismatch:
            raise ValueError(f"YOLODecoder: map {level} has shape {tuple(x.shape)}, built for "
                             f"[B, {a * no}, {h}, {w}]")
        return x.reshape(-1, a, no, h * w).transpose(2, 3).reshape(-1, a * h * w, no)

    def constants(self, maps: Sequence[torch.Tensor], dtype: torch.dtype):
        """(gain, offset, anchor_wh), each [1, N, 2]."""
        if self.shapes is not None:
            return tuple(t.to(dtype) for t in (self.gain, self.offset, self.anchor_wh))
        if torch.jit.is_tracing():
            return self.traced_constants(maps, dtype)
        shapes = tuple(tuple(x.shape[-2:]) for x in maps)
        key = (shapes, maps[0].device, dtype)
        if key not in self._cache:
            self._cache[key] = tuple(torch.from_numpy(arr.copy()).to(maps[0].device, dtype)[None]
                                     for arr in level_constants(self.spec, shapes))
        return self._cache[key]

    def traced_constants(self, maps: Sequence[torch.Tensor], dtype: torch.dtype):
        """The constants as torch ops on the input shapes, for a dynamic-shape ONNX export."""
        gains, offsets, whs = [], [], []
        for i, (x, s, k) in enumerate(zip(maps, self.spec.strides, self.spec.scale_x_y)):
            h, w = x.shape[-2:]
            anchor = getattr(self, f"anchors{i}").to(x.device)
            a = len(self.spec.anchors[i])
            ys = torch.arange(h, device=x.device, dtype=torch.float32)
            xs = torch.arange(w, device=x.device, dtype=torch.float32)
            grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], 2).reshape(1, -1, 2)
            offset = ((grid - (k - 1) / 2) * s).expand(a, -1, 2).reshape(-1, 2)
            whs.append(anchor.expand(a, h * w, 2).reshape(-1, 2))
            offsets.append(offset)
            gains.append(torch.full_like(offset, k * s))
        return tuple(torch.cat(v)[None].to(dtype) for v in (gains, offsets, whs))
