"""Darknet models end to end: counts, conversion to cspdet checkpoints and back, detection."""
import json

import numpy as np
import pytest
import torch

from detector.cli import main
from detector.darknet import DarknetModel, save_weights
from detector.models.loading import load_detector


@pytest.fixture
def tiny_weights(shared, tmp_path):
    """yolov3-tiny-prn.cfg with seeded random weights written as a Darknet .weights file."""
    cfg = shared / "darknet" / "yolov3-tiny-prn.cfg"
    torch.manual_seed(0)
    model = DarknetModel(cfg)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
                m.running_mean.uniform_(-0.1, 0.1)
    path = tmp_path / "tiny-prn.weights"
    save_weights(model, path)
    return cfg, path


@pytest.mark.parametrize("name,bflops", [("yolov4-tiny", 6.910), ("yolov4", 128.459)])
def test_info_cfg_matches_darknets_printed_bflops(shared, name, bflops, capsys):
    assert main(["info", "--cfg", str(shared / "darknet" / f"{name}.cfg"), "--json", "--no-layers"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["gflops"] == pytest.approx(bflops, rel=0.01)  # Darknet's own summary line
    assert {"params", "params_total", "cio", "layers"} <= set(d)


def test_convert_to_pt_and_back_is_lossless(tiny_weights, shared, tmp_path, capsys):
    cfg, weights = tiny_weights
    pt = tmp_path / "tiny.pt"
    argv = ["convert", "--cfg", str(cfg), "--weights", str(weights), "--names", str(shared / "darknet" / "coco.names"),
            "-o", str(pt)]
    assert main(argv) == 0 and "80 classes" in capsys.readouterr().out
    assert main(argv) == 2 and "already exists" in capsys.readouterr().err  # never overwrites
    back = tmp_path / "back.weights"
    assert main(["convert", "--weights", str(pt), "-o", str(back)]) == 0
    assert back.read_bytes() == weights.read_bytes()
    a, b = load_detector(pt), load_detector(weights, cfg=cfg)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        for ma, mb in zip(a(x), b(x)):
            torch.testing.assert_close(ma, mb, rtol=0, atol=0)
    assert a.names[0] == "person" and a.names == b.names


def test_truncated_weights_are_refused_with_counts(tiny_weights, tmp_path, capsys):
    cfg, weights = tiny_weights
    cut = tmp_path / "cut.weights"
    cut.write_bytes(weights.read_bytes()[:-400])
    assert main(["convert", "--cfg", str(cfg), "--weights", str(cut), "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "cut.weights: expected" in err and "found" in err and not (tmp_path / "x.pt").exists()


@pytest.mark.cv_compat
def test_darknet_model_runs_through_detector_on_every_backend(tiny_weights, tmp_path):
    from detector import Detector

    cfg, weights = tiny_weights
    pt = tmp_path / "d.pt"
    assert main(["convert", "--cfg", str(cfg), "--weights", str(weights), "-o", str(pt)]) == 0
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    results = {b: Detector(pt, backend=b, img_size=160, conf_thres=0.01)(img) for b in ("torch", "onnxruntime", "opencv")}
    ref = results["torch"]
    for b, r in results.items():
        assert len(r) == len(ref), b
        # Random weights give near-equal scores, whose order a 1e-7 difference may swap: match
        # every box to its nearest twin instead of comparing row by row.
        gap = np.abs(r.xyxy[:, None, :] - ref.xyxy[None, :, :]).max(-1)
        assert gap.min(1).max() <= 1.0 and gap.min(0).max() <= 1.0, b
        np.testing.assert_allclose(np.sort(r.scores), np.sort(ref.scores), atol=1e-4, err_msg=b)


def test_new_coords_darknet_model_decodes_like_darknet(shared):
    """YOLOv4-CSP maps are already logistic: the decoder must not apply sigmoid twice."""
    from detector.geometry.decode import HeadSpec

    model = load_detector(shared / "darknet" / "yolov4-csp.cfg")
    spec = HeadSpec.from_model(model)
    assert spec.new_coords and spec.scale_x_y == (2.0, 2.0, 2.0)
