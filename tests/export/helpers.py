"""Shared pieces of the export tests: random-but-sane weights, the three runtimes, tolerances."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from detector.models import build_model
from detector.geometry import YOLODecoder
from tests.conftest import shared_dir

# Tolerances for decoded rows, documented once. Columns 0-3 are pixels (up to a few hundred,
# where one float32 ulp is ~3e-5): rtol 1e-4 with atol 1e-3 px. Columns 4.. are probabilities:
# rtol 1e-4 with atol 1e-4. Folding BN changes the rounding of every conv, hence not 1e-6.
PIXEL_TOL = {"rtol": 1e-4, "atol": 1e-3}
PROB_TOL = {"rtol": 1e-4, "atol": 1e-4}
# Raw maps are logits of order 1.
RAW_TOL = {"rtol": 1e-4, "atol": 1e-4}


def output_convs(model: nn.Module) -> list[nn.Conv2d]:
    """The convs whose outputs are the raw maps: a YAML model's head, a Darknet cfg's convs
    feeding its [yolo] layers."""
    if hasattr(model, "head"):
        return list(model.head.convs)
    return [model.blocks[model.layers[y.index].sources[0]][0] for y in model.yolo]


def randomize(model: nn.Module, x: torch.Tensor, seed: int, head_scale: float = 0.15) -> nn.Module:
    """Give every BatchNorm random, non-trivial running statistics and affine parameters, and
    the head zero-mean biases; returns ``model`` in eval mode.

    Each BN's statistics are set from the real statistics of its input on ``x`` [B, 3, H, W],
    then perturbed, so activations stay O(1) at any depth on inputs like ``x`` while folding
    has real work to do. Head biases near 0 (instead of the training prior, which makes every
    score ~1e-5) spread objectness and class probabilities around 0.5, so score ties are rare.

    ``head_scale`` multiplies the head's weights. float32 rounding through the ~60 layers of
    these random nets reaches ~1e-4 of the logit scale (measured against float64: torch
    1.1e-4, ONNX Runtime 1.0e-4, OpenCV 1.0e-4 without Winograd, 3.7e-4 with it, for logits of
    std ~1.3), and w, h = exp(t) * anchor turn that into a relative error; 0.15 keeps the
    logits at std ~0.2 and the worst decoded difference near 4e-5, so the 1e-4 relative
    tolerances test the export, not the noise floor.
    """
    gen = torch.Generator().manual_seed(seed)

    def calibrate(bn, args):
        (inp,) = args
        mean, var = inp.mean((0, 2, 3)), inp.var((0, 2, 3), unbiased=False)
        n = mean.numel()
        bn.running_mean.copy_(mean + 0.2 * var.sqrt() * torch.randn(n, generator=gen))
        bn.running_var.copy_(var * (0.7 + 0.7 * torch.rand(n, generator=gen)) + 1e-2)
        bn.weight.copy_(0.6 + 0.8 * torch.rand(n, generator=gen))
        bn.bias.copy_(0.2 * torch.randn(n, generator=gen))

    model.eval()
    hooks = [m.register_forward_pre_hook(calibrate) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        model(x)
        for conv in output_convs(model):
            conv.weight.mul_(head_scale)
            conv.bias.copy_(0.1 * torch.randn(conv.bias.shape, generator=gen))
    for h in hooks:
        h.remove()
    return model


def random_model(name: str, x: torch.Tensor | None = None, seed: int = 0,
                 head_scale: float = 0.15) -> nn.Module:
    """``build_model(name)`` with seeded weights, randomized on ``x`` (default: noise, 96 x 96)."""
    torch.manual_seed(seed)
    if x is None:
        x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(seed))
    return randomize(build_model(name), x, seed, head_scale)


def torch_decoded(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The reference: the (unfolded) model in eval mode + the torch decoder."""
    with torch.no_grad():
        return YOLODecoder.from_model(model)(model(x)).numpy()


def run_ort(path: Path, x) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"images": np.ascontiguousarray(np.asarray(x, np.float32))})


def run_opencv(path: Path, x, output_names: list[str]) -> list[np.ndarray]:
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.enableWinograd(False)  # OpenCV's fast 3x3 path trades ~3x the rounding error for speed
    net.setInput(np.ascontiguousarray(np.asarray(x, np.float32)))
    return list(net.forward(output_names))


def op_types(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def assert_decoded_close(out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Decoded [B, N, 5 + nc] within PIXEL_TOL / PROB_TOL; returns the max abs differences."""
    assert out.shape == ref.shape
    np.testing.assert_allclose(out[..., :4], ref[..., :4], **PIXEL_TOL)
    np.testing.assert_allclose(out[..., 4:], ref[..., 4:], **PROB_TOL)
    return float(np.abs(out[..., :4] - ref[..., :4]).max()), float(np.abs(out[..., 4:] - ref[..., 4:]).max())


def coco_images(n: int) -> list[np.ndarray]:
    """The first ``n`` coco128 images (sorted by name) as BGR arrays, or skip."""
    root = shared_dir() / "data" / "coco128" / "images"
    files = sorted(root.rglob("*.jpg"))[:n]
    if len(files) < n:
        pytest.skip(f"coco128 images not found under {root} (set CSPDET_SHARED to the folder holding data/)")
    return [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files]


def steady_trunk(model: nn.Module, x: torch.Tensor, gain: float = 0.5, shift: float = 1.0) -> nn.Module:
    """Set every BatchNorm so that each channel it outputs on ``x`` [B, 3, H, W] has mean
    ``shift`` and std ``gain`` (running statistics from ``x``, weight ``gain``, bias ``shift``);
    returns ``model`` in eval mode.

    A random trunk has two easy regimes and neither is a trained net's. As initialised (BN at
    its identity statistics) each conv keeps a third of the variance: a swish trunk hands the
    head 1e-9-1e-13, a linear map of the image whose projection gives sub-pixel boxes and
    saturated scores, so which detections survive turns on noise. Renormalised to mean 0 and
    std 1 (``randomize``), leaky, mish and swish all drop half the signal below zero and the
    next BN scales what is left back up, perturbations included: ~1.16x per layer, INT8 logits
    10-70% off even on YOLOv7-tiny. Shifted to mean 1 with std 0.5, 98% of the pre-activations
    sit where the activation is near its identity, so the signal stays O(1) at any depth and a
    perturbation neither grows nor fades (measured: INT8 logits 2-7% off on every model, where
    6% Gaussian noise on FP32's logits alone keeps 0.88-0.96 of the detections). The activation
    being positively homogeneous (leaky), the regime is set by ``shift / gain``, not by each.
    """
    def normalize(bn, args):
        (inp,) = args
        bn.running_mean.copy_(inp.mean((0, 2, 3)))
        bn.running_var.copy_(inp.var((0, 2, 3), unbiased=False))
        bn.weight.fill_(gain)
        bn.bias.fill_(shift)

    model.eval()
    hooks = [m.register_forward_pre_hook(normalize) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        model(x)  # in order: each BN sees its input as the BNs before it already shape it
    for h in hooks:
        h.remove()
    return model


def spread_head(model: nn.Module, x: torch.Tensor, seed: int = 0) -> nn.Module:
    """Scale the output convs of ``model`` so that its logits on ``x`` [B, 3, H, W] have std
    ~1 around zero-mean biases (std 0.1); returns ``model`` in eval mode.

    Random convs give the head's logits any scale (~0.03 after a trunk as initialised, where
    every score sits at 0.25: no ranking to compare); this only spreads the scores. Pair it with
    ``steady_trunk`` for a trunk whose signal neither explodes nor vanishes.
    """
    gen = torch.Generator().manual_seed(seed)
    convs, stds = output_convs(model), {}
    hooks = [c.register_forward_hook(lambda m, args, out: stds.__setitem__(m, out.std())) for c in convs]
    model.eval()
    with torch.no_grad():
        for conv in convs:
            conv.bias.zero_()
        model(x)  # the conv outputs, not the maps: some Darknet heads end in a logistic
        for conv in convs:
            conv.weight.div_(stds[conv])
            conv.bias.copy_(0.1 * torch.randn(conv.bias.shape, generator=gen))
    for h in hooks:
        h.remove()
    return model


def logit_error(ref: np.ndarray, out: np.ndarray) -> float:
    """||logit(out) - logit(ref)|| / ||logit(ref)|| over the objectness and class columns of
    decoded rows [B, N, 5 + nc]: the relative error of those raw maps, read back through the
    decoder's sigmoid."""
    def logit(p):
        p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    a, b = logit(ref[..., 4:]), logit(out[..., 4:])
    return float(np.linalg.norm(b - a) / np.linalg.norm(a))


def matched_detections(ref: np.ndarray, out: np.ndarray, conf: float, k: int = 100) -> tuple[float, float, int]:
    """(share of ``ref``'s top ``k`` detections after NMS at ``conf`` that ``out`` also finds
    with the same class at IoU >= 0.5, median |score difference| of those pairs, how many) for
    one image's decoded rows [N, 5 + nc] each."""
    from detector.geometry import box_iou, postprocess

    a, b = postprocess(ref[None], conf_thres=conf, max_det=k)[0], postprocess(out[None], conf_thres=conf)[0]
    errors = []
    for box, cls, score in zip(a.boxes, a.class_ids, a.scores):
        same = (box_iou(box[None], b.boxes)[0] >= 0.5) & (b.class_ids == cls) if len(b.scores) else []
        if np.any(same):
            errors.append(float(np.abs(b.scores[same] - score).min()))
    return len(errors) / max(len(a.scores), 1), float(np.median(errors)) if errors else float("nan"), len(a.scores)
