"""Structured pruning: every model family the issue names prunes consistently (the pruned model
computes what the original computes without the removed channels), couplings that break are
refused, and the result is an ordinary checkpoint that loads, counts and exports."""
import copy

import numpy as np
import pytest
import torch

from detector.cli import main
from detector.models.checkpoint import load_checkpoint, save_checkpoint
from detector.models.loading import load_detector
from detector.resources import default_weights_path
from tests.conftest import shared_dir

pytest.importorskip("torch_pruning")  # the prune extra: .ci/run installs it

from detector.compress import prune as P  # noqa: E402
from detector.compress import prune_model  # noqa: E402

# A Darknet cfg with the awkward parts: a partial add of 16 channels into 8 and of 8 into 24, a
# grouped route over a shortcut, a concat of that with the 24-channel layer, a pool and a head.
TINY_CFG = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

[shortcut]
from=-2
activation=linear

[convolutional]
batch_normalize=1
filters=24
size=3
stride=1
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=24
size=3
stride=1
pad=1
activation=mish

[shortcut]
from=-2
activation=linear

[route]
layers=-1
groups=2
group_id=1

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[route]
layers=-1,-3

[maxpool]
size=2
stride=2

[convolutional]
size=1
stride=1
pad=1
filters=18
activation=linear

[yolo]
mask = 0,1,2
anchors = 10,14,  23,27,  37,58
classes=1
num=3
"""


def yolov4_tiny():
    path = shared_dir() / "darknet" / "yolov4-tiny.cfg"
    if not path.is_file():
        pytest.skip(f"{path} not found (set CSPDET_SHARED)")
    return load_detector(path)


def outputs(model, size):
    with torch.no_grad():
        return model(torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("name, size, ratio", [("csppeleenet-efm-nano", 96, 0.5), ("cspdarknet53-efm", 64, 0.25),
                                               ("yolov4-tiny", 160, 0.5)])
def test_each_model_family_prunes_consistently(name, size, ratio):
    """EFM with Maxout and SAM, CSPDarknet53's CSP stages, YOLOv4-tiny's grouped routes: the
    self-check inside ``prune_model`` held (it raises otherwise) and the head kept its outputs."""
    model = yolov4_tiny() if name == "yolov4-tiny" else load_detector(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = prune_model(model, ratio=ratio, img_size=size)
    assert res.max_error < P.TOLERANCE and res.params[1] < 0.85 * res.params[0] and res.gflops[1] < res.gflops[0]
    assert [o.shape for o in outputs(res.model, size)] == [o.shape for o in outputs(model, size)]
    assert all("head output" in why for why in res.left_whole) and len(res.left_whole) == len(model.strides)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the original is untouched


def test_partial_adds_of_unequal_widths_are_left_whole_and_listed(tmp_path):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(TINY_CFG)
    model = load_detector(cfg)
    res = prune_model(model, ratio=0.5)
    assert "blocks.2: partial add of [16] channels into 8" in res.left_whole
    assert "blocks.5: partial add of [24] channels into 24" not in res.left_whole  # equal widths prune
    assert res.params[1] < res.params[0] and "filters=" in res.model.cfg_text
    widths = [res.model.blocks[i][0].out_channels for i in (0, 1, 3, 4, 7)]
    assert widths[:2] == [16, 8] and widths[2] == widths[3] < 24 and widths[2] % 2 == 0, widths


def test_a_pruning_that_breaks_a_coupling_is_refused(monkeypatch):
    """The self-check has teeth: without the channel groups of YOLOv4-tiny's grouped routes, or
    without Maxout's new width, the pruned model no longer computes the original's outputs."""
    model = yolov4_tiny()
    monkeypatch.setattr(P, "route_groups", lambda m: {})
    with pytest.raises(ValueError, match="broke it|failed"):
        prune_model(model, ratio=0.5, img_size=96)
    monkeypatch.undo()
    monkeypatch.setattr(P, "_fix_maxouts", lambda *a: None)
    with pytest.raises(ValueError, match="Maxout: .* not a multiple"):
        prune_model(load_detector("csppeleenet-efm-nano"), ratio=0.5, img_size=96)


def test_a_target_in_gflops_is_reached():
    model = load_detector("csppeleenet-efm-nano")
    res = prune_model(model, target_gflops=0.03, img_size=128, steps=6)
    assert res.gflops[1] <= 0.03 < res.gflops[0] and 0 < res.ratio < 0.9
    with pytest.raises(ValueError, match="target-gflops"):
        prune_model(model, target_gflops=5, img_size=128)
    with pytest.raises(ValueError, match="not both"):
        prune_model(model, ratio=0.2, target_gflops=0.03)


@pytest.mark.parametrize("family", ["yaml", "darknet"])
def test_a_pruned_checkpoint_loads_back_with_weights_only(tmp_path, family):
    model = load_detector("csppeleenet-efm-nano") if family == "yaml" else yolov4_tiny()
    res = prune_model(model, ratio=0.25, img_size=96)
    path = save_checkpoint(tmp_path / "p.pt", res.model)
    ckpt = load_checkpoint(path)  # torch.load(weights_only=True) inside
    if family == "yaml":
        assert ckpt["arch"]["widths"] and all(isinstance(v, dict) for v in ckpt["arch"]["widths"].values())
    else:
        assert ckpt["arch"]["cfg"] != model.cfg_text and "widths" not in ckpt["arch"]
    back = load_detector(path)
    for a, b in zip(outputs(res.model, 96), outputs(back, 96)):
        assert torch.equal(a, b)
    two = back.with_classes(["a", "b"])  # fine-tuning on other classes keeps the pruned widths
    new = two.state_dict()
    kept = [n for n, p in back.state_dict().items() if n in new and p.shape == new[n].shape]
    assert len(kept) == len(new) - 2 * len(back.strides)  # all but the output convs' weights and biases


def test_widths_from_an_untrusted_checkpoint_are_checked(tmp_path):
    model = load_detector("csppeleenet-efm-nano")
    pruned = prune_model(model, ratio=0.25, img_size=96).model
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "p.pt", pruned))
    name = next(iter(ckpt["arch"]["widths"]))
    for bad, match in (({"no.such.layer": {"out": 4}}, "no such module"), ({name: {"out": 10 ** 6}}, "must be an integer"),
                       ({name: {"features": 4}}, "does not fit"), ("ten", "must be a mapping")):
        evil = copy.deepcopy(ckpt)
        evil["arch"]["widths"] = bad
        torch.save(evil, tmp_path / "evil.pt")
        with pytest.raises(ValueError, match=match) as e:
            load_detector(tmp_path / "evil.pt")
        assert "evil.pt" in str(e.value)


def test_cli_prune_then_info_export_and_every_onnx_backend(tmp_path, capsys):
    assert main(["prune", "--weights", str(default_weights_path()), "--ratio", "0.25", "--img-size", "128",
                 "--round-to", "4", "--project", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    pruned = tmp_path / "runs" / "exp" / "pruned.pt"
    assert pruned.is_file() and "left whole (3)" in out and "cspdet train --weights" in out
    assert load_checkpoint(pruned)["pruned"]["ratio"] == 0.25
    assert main(["info", "--weights", str(pruned), "--img-size", "128", "--no-layers"]) == 0
    assert "GFLOPs" in capsys.readouterr().out
    onnx_path = tmp_path / "p.onnx"
    assert main(["export", "--weights", str(pruned), "--img-size", "128", "-o", str(onnx_path)]) == 0
    from detector import Detector
    from tests.jetson.conftest import scene

    img = scene(3, 128, 160)
    ref = Detector(pruned, backend="torch", img_size=128, conf_thres=0.05)(img)
    backends = ["onnxruntime", "opencv"] + (["openvino"] if _has("openvino") else [])
    for backend in backends:
        got = Detector(onnx_path, backend=backend, conf_thres=0.05)(img)
        assert len(got) == len(ref) and np.allclose(got.xyxy, ref.xyxy, atol=0.05), backend
    calib = tmp_path / "calib"
    calib.mkdir()
    import cv2

    for i in range(4):
        cv2.imwrite(str(calib / f"{i}.jpg"), scene(i, 128, 128))
    int8 = tmp_path / "p-int8.onnx"
    assert main(["export", "--weights", str(pruned), "--img-size", "128", "--int8", "--calib", str(calib),
                 "-o", str(int8)]) == 0
    assert Detector(int8, conf_thres=0.05)(img).xyxy.shape[1] == 4
    assert main(["prune", "--weights", str(default_weights_path()), "--ratio", "0.99"]) == 2


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
