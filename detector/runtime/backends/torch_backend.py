"""PyTorch backend: cspdet checkpoints, YAML configs and Darknet models, BN folded."""
from __future__ import annotations

import copy

import numpy as np
import torch

from ...devices import select_device
from ...waiting import warn_if_passive
from ...models.fuse import fold_bn
from ...models.loading import load_detector
from ...geometry.decode import HeadSpec, YOLODecoder
from .protocol import BackendBase


def half_dtype(device: torch.device) -> torch.dtype:
    """``--half``: float16 on CUDA; on the CPU bfloat16, which oneDNN runs natively with
    AVX512-BF16 or AMX (float16 convolutions have no fast CPU kernels)."""
    if device.type == "cuda":
        return torch.float16
    if not torch.backends.mkldnn.is_available() or not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        raise ValueError("--half: this CPU has no bf16 convolutions in PyTorch (oneDNN needs AVX512 or AMX); "
                         "run without --half")
    return torch.bfloat16


class TorchBackend(BackendBase):
    name = "torch"
    streams = True

    def __init__(self, path, *, device: str = "", threads: int | None = None, img_size=None,
                 cfg=None, half: bool = False, spin: bool = False):
        if spin:
            warn_if_passive()
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(select_device(device))
        model = load_detector(path, cfg=cfg)
        self.names = list(model.names)
        self.spec = HeadSpec.from_model(model)
        self.model = fold_bn(model).to(self.device)
        self.dtype = half_dtype(self.device) if half else torch.float32
        self.model.to(self.dtype)
        self.decoder = YOLODecoder(self.spec).to(self.device)
        self.input_size = None  # fully convolutional: any multiple of the largest stride
        self.batch = None
        self.default_size = getattr(model, "img_size", 416)
        self._threads_before: int | None = None

    def replica(self, threads: int) -> "TorchBackend":
        """The same module (inference-mode forwards may run in parallel threads); PyTorch's thread
        count is process-wide: ``threads`` sets it for every stream until ``end_replicas``."""
        if self._threads_before is None:
            self._threads_before = torch.get_num_threads()
        torch.set_num_threads(threads)
        return copy.copy(self)

    def end_replicas(self) -> None:
        """Give PyTorch back the thread count it had before the first ``replica``."""
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    @torch.inference_mode()
    def __call__(self, blob: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(blob).to(self.device, non_blocking=True).to(self.dtype)
        return self.decoder([m.float() for m in self.model(x)]).cpu().numpy()
