"""Shared helpers for the Darknet tests: locating cfgs, random weights, OpenCV's Region decoding."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from detector.darknet import DarknetModel, save_weights

REPO_ROOT = Path(__file__).resolve().parents[2]
# OpenCV's darknet importer gives [yolo] a Region layer with this default class-score threshold
# (darknet_io.cpp reads an optional "thresh" key that Darknet's own [yolo] does not have).
OPENCV_YOLO_THRESH = 0.2


def shared_dir() -> Path:
    """The shared data folder: $CSPDET_SHARED, else ../shared next to the repo root."""
    return Path(os.environ.get("CSPDET_SHARED", REPO_ROOT.parent / "shared"))


# The cfgs the shared folder is known to hold; used to name the tests when it is absent.
KNOWN_CFGS = [
    "csdarknet53-omega.cfg", "csdarknet53-panet-spp.cfg", "csdarknet53.cfg", "csresnet50.cfg",
    "csresnext50-panet-spp.cfg", "csresnext50.cfg", "yolov3-tiny-prn.cfg", "yolov3-tiny.cfg",
    "yolov4-csp.cfg", "yolov4-tiny.cfg", "yolov4.cfg",
]


def shared_cfg_names() -> list[str]:
    """Names of all cfgs in shared/darknet (the known list if the folder is missing, so each
    test is reported as skipped with the reason rather than silently not collected)."""
    found = sorted(p.name for p in (shared_dir() / "darknet").glob("*.cfg"))
    return found or KNOWN_CFGS


def detector_cfg_names() -> list[str]:
    """The shared cfgs that end in ``[yolo]`` heads (the known ones when the folder is missing)."""
    found = [n for n in shared_cfg_names() if (shared_dir() / "darknet" / n).is_file()
             and "[yolo]" in (shared_dir() / "darknet" / n).read_text()]
    return found or [n for n in KNOWN_CFGS if n.startswith("yolo") or "panet" in n]


def darknet_cfg(name: str) -> Path:
    """Path of a cfg in shared/darknet, skipping the test when it is not there."""
    path = shared_dir() / "darknet" / name
    if not path.is_file():
        pytest.skip(f"{path} not found: set CSPDET_SHARED to the folder holding darknet/*.cfg")
    return path


def tiny_cfg(classes: int = 2) -> str:
    """A three-conv, one-[yolo] Darknet detector cfg at 64x64 (a few KB of weights)."""
    return """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters={filters}
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes={classes}
num=3
""".format(filters=3 * (5 + classes), classes=classes)


def randomize(model: DarknetModel, x: torch.Tensor, seed: int) -> None:
    """Give ``model`` random weights that keep activations O(1) through deep nets.

    Conv weights are N(0, 1/fan_in), x10 before a batch norm (so its input variance is ~100
    and the BN epsilon -- 1e-5 here and in Darknet, 1e-6 in OpenCV -- is irrelevant). Each BN's
    rolling statistics come from its actual input on ``x`` (one variance per layer, perturbed),
    so every map is about unit scale at any depth. Scales U(0.5, 1) and biases N(0, 1) keep
    the random net near the edge of chaos: a small perturbation of the input changes the output
    by a similar relative amount (measured 0.4x-11x on the cfgs here), so float32 rounding does
    not blow up over 160 layers while a wrong layer anywhere still changes the output by O(1).
    The heads (convs without BN) get std 0.5/sqrt(fan_in): logits of order 0.3-1.
    """
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    def set_stats(bn: nn.Module, args) -> None:
        (inp,) = args
        dims = [0] + list(range(2, inp.dim()))
        mean, var = inp.mean(dims), inp.var(dims, unbiased=False).mean()
        n = mean.numel()
        bn.running_mean.copy_(mean + 0.2 * var.sqrt() * randn(n))
        bn.running_var.copy_(var * (0.7 + 0.7 * torch.rand(n, generator=gen)) + 1e-2)
        bn.weight.copy_(0.5 + 0.5 * torch.rand(n, generator=gen))
        bn.bias.copy_(randn(n))

    hooks = []
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                scale = (10.0 if module.bias is None else 0.5) / math.sqrt(fan_in)
                module.weight.copy_(randn(*module.weight.shape) * scale)
                if module.bias is not None:
                    module.bias.copy_(0.25 * randn(*module.bias.shape))
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                hooks.append(module.register_forward_pre_hook(set_stats))
        model.eval()(x)
    for hook in hooks:
        hook.remove()


def write_random_weights(cfg: Path, path: Path, x: torch.Tensor, seed: int = 0) -> Path:
    """Write a random ``.weights`` file for ``cfg`` (see ``randomize``)."""
    model = DarknetModel(cfg)
    randomize(model, x, seed)
    save_weights(model, path)
    return path


def opencv_region(raw: np.ndarray, yolo, input_hw: tuple[int, int],
                  thresh: float = OPENCV_YOLO_THRESH) -> tuple[np.ndarray, np.ndarray]:
    """Decode one raw YOLO map [1, A*(5+C), H, W] exactly as OpenCV's Region layer does.

    Returns (rows [H*W*A, 5+C] in OpenCV's (y, x, anchor) order, and the un-thresholded class
    scores obj*cls [H*W*A, C] so a caller can mask values that sit on the threshold).
    """
    a, c = yolo.num_anchors, yolo.classes
    _, _, h, w = raw.shape
    t = raw.astype(np.float64).reshape(a, 5 + c, h, w).transpose(2, 3, 0, 1)  # [H, W, A, 5+C]
    gy, gx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    anchors = np.asarray(yolo.anchors, np.float64)  # [A, 2] pixels
    s = yolo.scale_x_y
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    out = np.empty_like(t)
    if yolo.new_coords:  # the preceding conv already applied the logistic
        xy, wh = t[..., 0:2], 4.0 * t[..., 2:4] ** 2
        obj, cls = t[..., 4], t[..., 5:]
    else:
        xy, wh = sig(t[..., 0:2]), np.exp(t[..., 2:4])
        obj, cls = sig(t[..., 4]), sig(t[..., 5:])
    out[..., 0] = (gx[..., None] + (xy[..., 0] - 0.5) * s + 0.5) / w
    out[..., 1] = (gy[..., None] + (xy[..., 1] - 0.5) * s + 0.5) / h
    out[..., 2] = wh[..., 0] * anchors[:, 0] / input_hw[1]
    out[..., 3] = wh[..., 1] * anchors[:, 1] / input_hw[0]
    out[..., 4] = obj
    scores = obj[..., None] * cls
    out[..., 5:] = np.where(scores > thresh, scores, 0.0)
    return out.reshape(-1, 5 + c), scores.reshape(-1, c)
