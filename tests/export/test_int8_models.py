"""INT8 for every model: each Darknet detector cfg of the shared folder and each configs/models
YAML quantizes, and on coco128 images its decoded output agrees with the FP32 export's.

The weights are random (``spread_head``: the trunk as initialised, logits of std ~1), so the
boxes mean nothing; what is compared is FP32 against INT8 of the same net, at 128 px, calibrated
on 4 coco128 images and run on 4 others. Per image, with the bounds for light models (under
20 M parameters) and heavy ones, and what was measured over all 16 models:

| measure | light: bound (measured) | heavy: bound (measured) |
|---|---|---|
| logit error ``||logit(int8) - logit(fp32)|| / ||logit(fp32)||`` over the objectness and class columns | <= 0.08 (0.031-0.044) | <= 0.15 (0.050-0.104) |
| share of FP32's top 100 detections after NMS at score 0.3 that INT8 finds, same class, IoU >= 0.5 | >= 0.80 (0.90-0.97) | >= 0.70 (0.81-0.93) |
| median score difference of those pairs | <= 0.015 (0.004-0.006) | <= 0.025 (0.006-0.011) |

Deeper nets add more rounding: the heavy ones have 100-170 quantized convs against 13-60.
OpenCV DNN either runs the INT8 file within the same bounds of ONNX Runtime's INT8 output, or
refuses it in one line. Cost on 2 cores: 3-10 s per light model; 20-40 s per heavy one, so of those
only YOLOv4 runs by default and the others under CI=true (where every model must pass) or with
CSPDET_INT8_ALL=1.
"""
from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import onnx
import pytest
import torch

from detector.darknet import ops
from detector.export import export_onnx, quantize_int8
from detector.geometry.letterbox import preprocess
from detector.io.images import images_in, read_image
from detector.models.loading import load_detector
from tests.conftest import REPO, missing_shared, shared_dir

from .helpers import logit_error, matched_detections, run_ort, spread_head

SIZE, N_CALIB, N_EVAL, CONF = 128, 4, 4, 0.3
# (logit error, matched share, median score error) bounds; see the module docstring.
LIGHT, HEAVY_BOUNDS = (0.08, 0.80, 0.015), (0.15, 0.70, 0.025)
DETECTOR_CFGS = ["csdarknet53-panet-spp.cfg", "csresnext50-panet-spp.cfg", "yolov3-tiny-prn.cfg", "yolov3-tiny.cfg",
                 "yolov4-csp.cfg", "yolov4-tiny.cfg", "yolov4.cfg"]  # the shared cfgs with [yolo] layers
# Over 20 M parameters: 20-40 s each. YOLOv4 stands for them in every run.
HEAVY = {"yolov4.cfg", "csdarknet53-panet-spp.cfg", "csresnext50-panet-spp.cfg", "yolov4-csp.cfg", "yolov7.cfg",
         "yolov7x.cfg", "yolov4-csp-swish.cfg", "yolov4-csp-x-swish.cfg", "yolov4x-mish.cfg",
         "cspdarknet53-efm.yaml", "cspdarknet53-panet-spp.yaml", "cspresnext50-panet-spp.yaml", "darknet53-fpn.yaml"}
ALWAYS = {"yolov4.cfg"}
ALL = os.environ.get("CSPDET_INT8_ALL") == "1" or os.environ.get("CI") == "true"
# Wider and deeper copies of nets the other cases cover layer type for layer type (yolov7 ->
# yolov7x; yolov4-csp and yolov7's swish -> the csp-swish pair and yolov4x-mish): 60-280 s each on
# 2 cores, so CI leaves them to CSPDET_INT8_ALL=1 (docs/models.md has what they measured).
WIDER = {"yolov7x.cfg", "yolov4-csp-swish.cfg", "yolov4-csp-x-swish.cfg", "yolov4x-mish.cfg"}
# Finding, random weights only (docs/models.md has the table): a swish trunk as initialised hands the
# head a signal of 1e-9-1e-13, and the head's projection of it gives 20-43% of the top 300 rows a side
# under 1 px and 12-140 scores above 0.9, so IoU >= 0.5 and the NMS order turn on hundredths of a
# pixel. Gaussian noise on FP32's logits, with no INT8 at all, keeps only 0.73 (YOLOv7, logit error
# 0.049) and 0.29 (YOLOv4-CSP-swish) of one image's detections; INT8 keeps 0.66 and 0.26-0.66, with the
# logit error in bounds (0.06-0.09). Symmetric activations, Entropy or Percentile calibration (the latter
# stops on the 1e-9 range) and a float swish do not lift it. strict: once it passes, the finding is revisited.
SWISH_SHARE = pytest.mark.xfail(strict=True, reason="random-weight swish nets: sub-pixel boxes and saturated scores "
                                "make the share noise-bound (see above)")


def detector_cfgs() -> list[str]:
    """The shared folder's cfgs that have [yolo] layers (the known list when it is missing)."""
    found = sorted(p.name for p in (shared_dir() / "darknet").glob("*.cfg") if "[yolo]" in p.read_text())
    return found or DETECTOR_CFGS


def models() -> list:
    names = detector_cfgs() + sorted(p.name for p in (REPO / "configs" / "models").glob("*.yaml"))
    skip = pytest.mark.skipif(not ALL, reason="a 29-65 M-parameter model (20-40 s); run with CSPDET_INT8_ALL=1 (CI runs it)")
    wider = pytest.mark.skipif(os.environ.get("CSPDET_INT8_ALL") != "1", reason="a wider copy of a net CI covers; "
                               "CSPDET_INT8_ALL=1")
    marks = {n: [skip] for n in HEAVY - ALWAYS} | {n: [wider] for n in WIDER}
    for n in ("yolov7.cfg", "yolov7x.cfg", "yolov4-csp-swish.cfg", "yolov4-csp-x-swish.cfg"):
        marks[n] = marks[n] + [SWISH_SHARE]
    return [pytest.param(n, marks=marks[n]) if n in marks else n for n in names]


def model_source(name: str) -> str:
    if name.endswith(".yaml"):
        return str(REPO / "configs" / "models" / name)
    path = shared_dir() / "darknet" / name
    if not path.is_file():
        missing_shared(f"{path} not found (set CSPDET_SHARED)")
    return str(path)


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """(calibration folder of N_CALIB coco128 images, their blob, N_EVAL other images' blobs)."""
    files = images_in(shared_dir() / "data" / "coco128" / "images")
    if len(files) < 64 + N_EVAL:
        missing_shared("coco128 images not found (set CSPDET_SHARED)")
    calib = tmp_path_factory.mktemp("calib")
    for f in files[:N_CALIB]:
        shutil.copy(f, calib)
    blob = preprocess([read_image(f) for f in files[:N_CALIB]], SIZE)[0]
    return calib, blob, [preprocess(read_image(f), SIZE)[0] for f in files[64:64 + N_EVAL]]


def quantize_quietly(fp32, out, calib, **kw):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="calibrating on", category=UserWarning)
        return quantize_int8(fp32, out, calib, n=N_CALIB, **kw)


def assert_agree(refs, outs, bounds, what: str) -> None:
    """Decoded rows [1, N, 5 + nc] per image: ``outs`` within ``bounds`` of ``refs``."""
    max_error, min_share, max_score_error = bounds
    for i, (ref, out) in enumerate(zip(refs, outs)):
        error = logit_error(ref, out)
        share, score_error, n = matched_detections(ref[0], out[0], CONF)
        assert n >= 50, f"image {i}: {n} reference detections, too few to compare"
        assert error <= max_error, f"image {i}: {what} logits {error:.1%} off"
        assert share >= min_share and score_error <= max_score_error, \
            f"image {i}: {what} finds {share:.0%} of the detections, median score error {score_error:.3f}"


def assert_opencv_runs_or_refuses(path, blobs, int8_outputs, bounds) -> None:
    """OpenCV computes int8 with its own rounding: its INT8 output must be as close to ONNX
    Runtime's as that is to FP32 (measured: logit error 0.012-0.034 between them, 0.030-0.044
    each against FP32), or OpenCV must refuse the file in one line."""
    from detector.runtime.backends.opencv_backend import OpenCVBackend

    try:
        net = OpenCVBackend(path)
    except ValueError as e:
        assert "cannot read" in str(e) and "\n" not in str(e), e
        return
    assert_agree(int8_outputs, [net(b) for b in blobs], bounds, "OpenCV's INT8 against ONNX Runtime's,")


@pytest.mark.parametrize("name", models())
def test_int8_agrees_with_fp32(name, coco, tmp_path):
    calib, calib_blob, blobs = coco
    model = load_detector(model_source(name))
    heavy = sum(p.numel() for p in model.parameters()) > 20e6
    assert heavy == (name in HEAVY), f"{name}: update HEAVY"  # the list stays true as models change
    fp32 = export_onnx(spread_head(model, torch.from_numpy(calib_blob)), tmp_path / "fp32.onnx", SIZE, opset=13)
    int8 = quantize_quietly(fp32, tmp_path / "int8.onnx", calib)
    refs, outs = [run_ort(fp32, b)[0] for b in blobs], [run_ort(int8, b)[0] for b in blobs]
    bounds = HEAVY_BOUNDS if heavy else LIGHT
    assert_agree(refs, outs, bounds, "INT8")
    assert_opencv_runs_or_refuses(int8, blobs, outs, bounds)


def noisy_share(name: str, calib_blob, blobs, rel: float) -> list[float]:
    """Per image, the share of FP32's detections kept when Gaussian noise of ``rel`` times the
    logits' std is added to the output convs of ``name`` as ``test_int8_agrees_with_fp32`` makes it."""
    from detector.geometry import YOLODecoder

    from .helpers import output_convs

    model = spread_head(load_detector(model_source(name)), torch.from_numpy(calib_blob))
    gen, noisy = torch.Generator().manual_seed(1), []
    hooks = [c.register_forward_hook(lambda m, args, out: out + rel * out.std() * torch.randn(
        out.shape, generator=gen) if noisy else None) for c in output_convs(model)]
    x, decode = torch.from_numpy(np.concatenate(blobs)), YOLODecoder.from_model(model)
    with torch.no_grad():
        refs = decode(model(x)).numpy()
        noisy.append(True)
        outs = decode(model(x)).numpy()
    for h in hooks:
        h.remove()
    return [matched_detections(r, o, CONF)[0] for r, o in zip(refs, outs)]


@pytest.mark.skipif(not ALL, reason="two 50 M-parameter models; run with CSPDET_INT8_ALL=1 (CI runs it)")
def test_the_swish_share_is_noise_bound_with_these_weights(coco):
    """SWISH_SHARE's reason, checked without INT8: noise of 6% of the logits' std (logit error
    0.05-0.08, INT8's size) keeps 0.90-0.95 of YOLOv4-CSP's detections per image but 0.29 of one
    image's on YOLOv4-CSP-swish, the same net with swish for mish."""
    _, calib_blob, blobs = coco
    assert min(noisy_share("yolov4-csp.cfg", calib_blob, blobs, 0.06)) >= 0.85
    assert min(noisy_share("yolov4-csp-swish.cfg", calib_blob, blobs, 0.06)) < HEAVY_BOUNDS[1] - 0.2


@pytest.fixture(scope="module")
def tiny_exports(tmp_path_factory):
    """YOLOv3-tiny (size-2 max pools: five stride 2, one stride 1) exported as it is now, and
    as before with the uneven padding as a Pad of -inf."""
    model = load_detector(model_source("yolov3-tiny.cfg"))
    d = tmp_path_factory.mktemp("tiny")
    now = export_onnx(model, d / "pools.onnx", 160, opset=13)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        mp.delattr(ops._PaddedMaxPool, "symbolic")  # traced through: F.pad, then the pool
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")  # F.pad's reversed Slice
        before = export_onnx(model, d / "pads.onnx", 160, opset=13)
    return now, before


def test_uneven_max_pool_padding_lives_in_the_max_pool(tiny_exports):
    now, before = tiny_exports
    graph = onnx.load(str(now)).graph
    pools = [n for n in graph.node if n.op_type == "MaxPool"]
    assert len(pools) == 6 and not any(n.op_type == "Pad" for n in graph.node)
    assert all(list(onnx.helper.get_attribute_value(a)) == [0, 0, 1, 1]
               for n in pools for a in n.attribute if a.name == "pads")
    assert "Pad" in {n.op_type for n in onnx.load(str(before)).graph.node}
    x = np.random.default_rng(0).random((1, 3, 160, 160), dtype=np.float32)
    assert np.abs(run_ort(now, x)[0] - run_ort(before, x)[0]).max() == 0.0


def test_an_infinite_activation_range_stops_the_export_naming_the_tensor(tiny_exports, coco, tmp_path):
    out = tmp_path / "int8.onnx"
    with pytest.raises(ValueError, match=r"pads\.onnx: INT8 calibration gave \d+ tensor\(s\) an unusable scale, "
                                         r"first '[^']+': inf .*no INT8 file written$") as e:
        quantize_quietly(tiny_exports[1], out, coco[0])
    assert "\n" not in str(e.value) and not out.exists() and list(tmp_path.iterdir()) == []
