"""The protocol every inference backend keeps, and the defaults of its optional members."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from ...geometry.decode import HeadSpec


@runtime_checkable
class Backend(Protocol):
    """What ``Detector`` needs of a backend. Built as ``Backend(path, *, device, threads,
    img_size, cfg, half)`` (onnxruntime and torch also take ``spin``); every class in ``BACKENDS`` is one
    and derives from BackendBase, which gives the optional members their defaults."""

    name: str
    """The backend's name in the ``BACKENDS`` table."""
    names: list[str]
    """Class names, index = class id."""
    spec: HeadSpec
    """The head's strides, anchors and class count (how the outputs were decoded)."""
    input_size: tuple[int, int] | None
    """(h, w) a static model must be fed, else None (any multiple of the largest stride)."""
    batch: int | None
    """The static batch a model takes, else None (any)."""
    default_size: int
    """The letterbox side when ``input_size`` is None and no ``img_size`` is asked for: the size the
    model was trained or exported at (416 when it does not say)."""
    device: object
    """Where it runs, as settled by the backend: ``str(device)`` is 'cpu', 'cuda' or 'cuda:N'."""
    streams: bool
    """Optional (default False): whether ``replica`` works, so parallel streams can run at once."""

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        """blob [B, 3, H, W] float32 RGB 0..1 -> decoded [B, N, 5 + nc] float32 rows (cx, cy, w, h
        in input pixels, objectness, class probabilities)."""

    def replica(self, threads: int) -> Backend:
        """Optional (only when ``streams``): the same model, callable from another thread at the
        same time as this one, on ``threads`` CPU threads."""

    def replicas(self, n: int, threads: int) -> list[Backend]:
        """Optional (default: ``n`` calls of ``replica``): ``n`` of them at once, for a backend
        that shares one compiled model between its streams (OpenVINO)."""

    def end_replicas(self) -> None:
        """Optional (default: nothing): undo what ``replica`` changed process-wide."""


class BackendBase:
    """The defaults of Backend's optional members: one stream, nothing to undo."""

    streams = False

    def replica(self, threads: int) -> Backend:
        raise NotImplementedError(f"the {self.name} backend runs one stream at a time")

    def replicas(self, n: int, threads: int) -> list[Backend]:
        return [self.replica(threads) for _ in range(n)]

    def end_replicas(self) -> None:
        pass
