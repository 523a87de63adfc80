"""Fine-tuning from pretrained weights for any class count, --freeze, and yolov5's train flags."""
import numpy as np
import pytest
import torch
import yaml

from detector.cli import main
from detector.darknet.detector import DarknetDetector
from detector.engine.train import Trainer, TrainConfig
from detector.models.loading import load_detector

from .conftest import tiny_cfg, tiny_darknet_cfg

# The tiny cfg: 9 batch-normalised convs (weight + 5 BN entries each) and 2 head convs (weight, bias).
HEAD_KEYS = {"blocks.11.0.weight", "blocks.11.0.bias", "blocks.18.0.weight", "blocks.18.0.bias"}


@pytest.fixture
def darknet80(tmp_path):
    """The tiny Darknet cfg for 80 classes and a .weights file for it, as if trained on COCO."""
    cfg = tmp_path / "tiny80.cfg"
    cfg.write_text(tiny_darknet_cfg(80))
    model = DarknetDetector(cfg.read_text(), cfg.name)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # statistics a fresh model would not have
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    weights = tmp_path / "tiny80.weights"
    model.save_darknet_weights(weights)
    return cfg, weights, model


def test_darknet_weights_get_a_head_for_the_datas_classes(darknet80, tiny_data, tmp_path, capsys):
    cfg, weights, source = darknet80
    t = Trainer(tiny_cfg(tiny_data, tmp_path, model="", weights=str(weights), cfg=str(cfg), img_size=96))
    assert "54 tensors loaded, 4 re-initialised (the head for 4 classes" in capsys.readouterr().out
    new, old = t.model.state_dict(), source.state_dict()
    assert all(torch.equal(new[k], old[k]) for k in new if k not in HEAD_KEYS)
    assert new["blocks.11.0.weight"].shape[0] == 3 * (5 + 4) and t.model.num_classes == 4
    assert "classes=4" in t.model.cfg_text and "filters=27" in t.model.cfg_text


def test_fine_tuned_darknet_checkpoint_loads_exports_and_converts(darknet80, tiny_data, tmp_path):
    cfg, weights, _ = darknet80
    assert main(["train", "--weights", str(weights), "--cfg", str(cfg), "--data", str(tiny_data), "--epochs", "1",
                 "--batch-size", "8", "--img", "64", "--workers", "0", "--project", str(tmp_path / "t")]) == 0
    best = tmp_path / "t" / "exp" / "weights" / "best.pt"
    model = load_detector(best)
    names = ["circle", "square", "triangle", "cross"]
    assert isinstance(model, DarknetDetector) and model.num_classes == 4 and model.names == names

    darknet = tmp_path / "ft.weights"
    assert main(["convert", "--weights", str(best), "-o", str(darknet)]) == 0
    assert "classes=4" in (tmp_path / "ft.cfg").read_text()  # written beside, so the pair loads as is
    back = tmp_path / "back.pt"
    assert main(["convert", "--weights", str(darknet), "--names", str(tmp_path / "ft.names"), "-o", str(back)]) == 0
    again = load_detector(back)
    assert again.names == names
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        for a, b in zip(model(x), again(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)

    from detector import Detector

    onnx = tmp_path / "ft.onnx"
    assert main(["export", "--weights", str(best), "--img-size", "96", "-o", str(onnx)]) == 0
    img = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    for source in (best, onnx):
        det = Detector(str(source), img_size=96, conf_thres=0.0)
        assert det.names == names and len(det(img)) > 0


def test_yaml_checkpoint_fine_tunes_to_fewer_classes(tmp_path, capsys):
    from detector.data import make_synthetic_dataset
    from detector.resources import default_weights_path

    pt = default_weights_path()  # the shipped 4-class shapes model
    if not pt.is_file():
        pytest.skip(f"{pt} not shipped in this checkout")
    data = make_synthetic_dataset(tmp_path / "two", 8, 4, img_size=(64, 64), seed=1, classes=("star", "ring"))
    t = Trainer(tiny_cfg(data, tmp_path, model="", weights=str(pt), epochs=1))
    out = capsys.readouterr().out
    source = load_detector(pt).state_dict()
    fresh = [k for k, v in t.model.state_dict().items() if not torch.equal(v, source[k]) or v.shape != source[k].shape]
    assert fresh and all(k.startswith("head.convs.") for k in fresh)
    assert f"re-initialised (the head for 2 classes: head.convs." in out
    assert t.model.names == ["star", "ring"] and t.model.head.convs[0].out_channels == 3 * 7


class OneBatch(list):
    """A loader of one batch: enough to move every trainable tensor once."""

    def set_epoch(self, epoch):
        pass


def one_step(t: Trainer) -> tuple[dict, dict]:
    """The trainer's state before and after one SGD step on one batch."""
    t.loader = OneBatch([next(iter(t.loader))])
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    t.train_one_epoch()
    return before, t.model.state_dict()


@pytest.mark.parametrize("source, freeze, frozen_prefixes", [
    ("darknet", "backbone", [f"blocks.{i}." for i in range(9)]),
    ("darknet", "3", ["blocks.0.", "blocks.1.", "blocks.2."]),
    ("yaml", "backbone", ["backbone."]),
    ("yaml", "2", ["backbone.stages.stem.", "backbone.stages.stage1."]),
])
def test_frozen_tensors_stay_put_and_the_rest_trains(darknet80, tiny_data, tmp_path, source, freeze, frozen_prefixes):
    arch = dict(cfg=str(darknet80[0]), model="") if source == "darknet" else {}
    step = dict(epochs=1, warmup_epochs=0, ema=False, **arch)
    t = Trainer(tiny_cfg(tiny_data, tmp_path / "frozen", freeze=freeze, **step))
    before, after = one_step(t)
    frozen = [k for k in before if any(k.startswith(p) for p in frozen_prefixes)]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # BN statistics included
    params = dict(t.model.named_parameters())
    assert all(not params[k].requires_grad for k in frozen if k in params)
    trained = [k for k in before if k not in frozen and before[k].is_floating_point()]
    still = [k for k in trained if torch.equal(before[k], after[k])]
    # A few tensors may not move in one step (a BN scale behind a Maxout's losing channel).
    assert len(still) <= 0.05 * len(trained), still


def test_bad_source_and_freeze_values_are_one_line_errors(darknet80, tiny_data, tmp_path, capsys):
    cfg, weights, _ = darknet80
    other = tmp_path / "other.cfg"
    other.write_text(tiny_darknet_cfg(3))  # as if edited for the data by hand: the weights no longer fit
    base = ["train", "--data", str(tiny_data), "--epochs", "1", "--workers", "0", "--project", str(tmp_path / "e")]
    cases = [
        (["--weights", str(cfg)], "an architecture, not weights; pass it as --cfg"),
        (["--cfg", str(weights)], "weights, not an architecture; pass it as --weights"),
        (["--model", "csppeleenet-efm-nano", "--cfg", str(cfg)], "an alias of --cfg, which is given too"),
        (["--cfg", str(cfg), "--freeze", "21"], "--freeze 21: the model has 20 freezable units"),
        (["--cfg", str(cfg), "--freeze", "head"], "--freeze head: give a count N"),
        (["--weights", str(weights), "--cfg", str(other)], "--cfg must be the cfg the weights were trained with"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_yolov5_conventions_opt_hyp_exist_ok_aliases_and_epoch_lines(tiny_data, tmp_path, capsys):
    from detector.cli import build_parser
    from detector.cli.train import config_from_args

    argv = ["train", "--cfg", "csppeleenet-efm-nano", "--data", str(tiny_data), "--epochs", "2", "--batch-size", "8",
            "--imgsz", "64", "--workers", "0", "--project", str(tmp_path / "p"), "--obj-gain", "0.7"]
    assert main(argv) == 0
    run = tmp_path / "p" / "exp"
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 2 and all(k in lines[1] for k in ("box", "obj", "cls", "AP50", "AP ", "lr", "s"))
    opt = yaml.safe_load((run / "opt.yaml").read_text())
    assert opt["cfg"] == "csppeleenet-efm-nano" and opt["img_size"] == 64 and opt["weights"] == ""
    hyp = yaml.safe_load((run / "hyp.yaml").read_text())
    assert hyp["obj_gain"] == 0.7 and hyp["fliplr"] == 0.5 and "mosaic" in hyp

    # The saved hyp.yaml reads back; a flag given still wins over it.
    again = config_from_args(build_parser().parse_args(["train", "--data", "d", "--hyp", str(run / "hyp.yaml"),
                                                        "--img", "96", "--cls-gain", "0.1"]))
    assert (again.obj_gain, again.cls_gain, again.img_size) == (0.7, 0.1, 96)
    assert again.augment["fliplr"] == 0.5

    assert main(argv + ["--epochs", "1", "--exist-ok"]) == 0
    assert not (tmp_path / "p" / "exp2").exists()
    assert len((run / "results.csv").read_text().splitlines()) == 2  # a new run's table, not the old one's
    old = TrainConfig(model="x/last.pt")  # the old --model still reads a .pt as weights
    assert (old.weights, old.cfg, old.model) == ("x/last.pt", "", "")
