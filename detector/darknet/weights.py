"""Reading and writing Darknet ``.weights`` files for a ``DarknetModel``.

Layout (AlexeyAB ``parser.c``): int32 major, minor, revision; ``seen`` as uint64 when
``major * 10 + minor >= 2`` (and both are < 1000) else uint32; then float32 values per layer in cfg
order. ``[convolutional]``: biases, then (with batch norm) scales, rolling mean, rolling variance,
then weights [filters, C / groups, k, k]. ``[connected]``: biases, weights [out, in], then (with
batch norm) scales, rolling mean, rolling variance -- Darknet's order, which differs from the
convolution's. Files are little-endian, as Darknet writes them on every platform it supports.

The file is parsed with explicit counts and refused unless its float count is exactly what the
cfg needs, so a truncated, oversized or mismatched file never loads silently.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io.files import write_bytes
from .model import DarknetModel

_I32, _U32, _U64, _F32 = np.dtype("<i4"), np.dtype("<u4"), np.dtype("<u8"), np.dtype("<f4")


@dataclass(frozen=True)
class WeightsHeader:
    """Header fields of a ``.weights`` file; ``seen_bytes`` is 8 or 4 (how ``seen`` is stored)."""

    major: int = 0
    minor: int = 2
    revision: int = 5
    seen: int = 0

    @property
    def seen_bytes(self) -> int:
        wide = self.major * 10 + self.minor >= 2 and self.major < 1000 and self.minor < 1000
        return 8 if wide else 4

    @property
    def transposed(self) -> bool:
        """Darknet stores ``[connected]`` weights as [in, out] when major or minor > 1000."""
        return self.major > 1000 or self.minor > 1000

    @property
    def nbytes(self) -> int:
        return 12 + self.seen_bytes

    def to_bytes(self) -> bytes:
        seen = np.array([self.seen], _U64 if self.seen_bytes == 8 else _U32)
        return np.array([self.major, self.minor, self.revision], _I32).tobytes() + seen.tobytes()


def read_header(data: bytes, name: str) -> WeightsHeader:
    """Parse the header at the start of ``data``; ``name`` is used in error messages."""
    if len(data) < 12:
        raise ValueError(f"{name}: {len(data)} bytes is too short for a Darknet weights header")
    major, minor, revision = (int(v) for v in np.frombuffer(data, _I32, count=3))
    header = WeightsHeader(major, minor, revision, 0)
    if len(data) < header.nbytes:
        raise ValueError(f"{name}: truncated header: {len(data)} bytes, need {header.nbytes}")
    seen_type = _U64 if header.seen_bytes == 8 else _U32
    seen = int(np.frombuffer(data, seen_type, count=1, offset=12)[0])
    return WeightsHeader(major, minor, revision, seen)


def _layer_tensors(model: DarknetModel, index: int, transposed: bool):
    """Yield (tensor, stored_shape) for layer ``index`` in file order; stored_shape is the
    shape of the values as laid out in the file (it differs only for transposed FC weights)."""
    sec, block = model.layers[index].section, model.blocks[index]
    if sec.get_int("dontload", 0):
        return
    load_scales = not sec.get_int("dontloadscales", 0)
    if sec.type == "convolutional":
        conv, bn = block[0], (block[1] if isinstance(block[1], torch.nn.BatchNorm2d) else None)
        yield (bn.bias if bn is not None else conv.bias), None
        if bn is not None and load_scales:
            yield from ((bn.weight, None), (bn.running_mean, None), (bn.running_var, None))
        yield conv.weight, None
    elif sec.type == "connected":
        linear, bn = block.linear, block.bn
        yield (bn.bias if bn is not None else linear.bias), None
        out_f, in_f = linear.weight.shape
        yield linear.weight, ((in_f, out_f) if transposed else None)
        if bn is not None and load_scales:
            yield from ((bn.weight, None), (bn.running_mean, None), (bn.running_var, None))


def _all_tensors(model: DarknetModel, header: WeightsHeader):
    for spec in model.layers:
        for tensor, stored in _layer_tensors(model, spec.index, header.transposed):
            yield spec, tensor, stored


def expected_float_count(model: DarknetModel, header: WeightsHeader | None = None) -> int:
    """How many float32 values the cfg needs after the header."""
    header = header or WeightsHeader()
    return sum(t.numel() for _, t, _ in _all_tensors(model, header))


def load_weights(model: DarknetModel, path: str | os.PathLike) -> WeightsHeader:
    """Load a Darknet ``.weights`` file into ``model`` in place; returns (and keeps on
    ``model.weights_header``) the header. Raises ValueError naming the file on any mismatch."""
    path = Path(path)
    data = path.read_bytes()
    header = read_header(data, path.name)
    body = len(data) - header.nbytes
    expected = expected_float_count(model, header)
    if body % 4:
        raise ValueError(f"{path.name}: {body} bytes after the header is not a whole number "
                         f"of float32 values (expected {expected} floats for {model.cfg.source})")
    found = body // 4
    if found != expected:
        raise ValueError(f"{path.name}: expected {expected} floats for {model.cfg.source}, "
                         f"found {found}")
    values = np.frombuffer(data, _F32, count=found, offset=header.nbytes)
    offset = 0
    with torch.no_grad():
        for _, tensor, stored in _all_tensors(model, header):
            n = tensor.numel()
            chunk = torch.from_numpy(values[offset:offset + n].astype(np.float32))
            chunk = chunk.reshape(stored).T if stored else chunk.reshape(tensor.shape)
            tensor.copy_(chunk)
            offset += n
    model.weights_header = header
    return header


def save_weights(model: DarknetModel, path: str | os.PathLike,
                 header: WeightsHeader | None = None) -> None:
    """Write ``model`` as a Darknet ``.weights`` file.

    The header is ``header``, else the one loaded into the model, else Darknet 0.2.5 with
    seen=0; so load-then-save reproduces the original file byte for byte. Layers marked
    ``dontload=1`` are skipped here as when loading (Darknet's own save would write them).
    """
    header = header or model.weights_header or WeightsHeader()
    parts = [header.to_bytes()]
    with torch.no_grad():
        for _, tensor, stored in _all_tensors(model, header):
            values = tensor.detach().cpu().to(torch.float32)
            if stored:
                values = values.T
            parts.append(values.contiguous().numpy().astype(_F32, copy=False).tobytes())
    write_bytes(path, b"".join(parts))
