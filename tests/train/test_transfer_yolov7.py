"""Fine-tuning on YOLOv7-tiny's own cfg (ELAN blocks, SPP, three ``new_coords`` heads with
``scale_x_y=2``, DIoU-NMS), at a quarter width (0.38 M parameters) and 96 px.

``test_a_new_class_count_rebuilds_the_heads``: ``cspdet train --weights v7.weights --cfg v7.cfg``
on a dataset with another class count keeps every tensor but the three heads' last convs, trains
with the ``new_coords`` loss, and the checkpoint keeps the cfg's NMS.

``test_fine_tuning_yolov7_tiny_...``: the transfer proof of ``test_transfer`` on this cfg: pretrain
on circles and crosses, write a real ``.weights`` file, then fine-tune against training from
scratch on squares and triangles. Its ELAN blocks make a step 8x a tiny yolov3's on 2 cores
(about 19 s an epoch of 320 images, 7 min in all), so it runs with CSPDET_HEAVY=1 only.
"""
import os

import pytest
import torch

from detector.cli import main
from detector.darknet import parse_cfg_text
from detector.darknet.edit import set_classes
from tests.conftest import missing_shared, shared_dir

from .test_transfer import RECIPE, SIZE, final_ap50, shapes

PRE_EPOCHS, K = 15, 6
HEAVY = os.environ.get("CSPDET_HEAVY") == "1"

pytestmark = pytest.mark.usefixtures("one_thread")


def narrow_cfg(text: str, classes: int, size: int = SIZE, divisor: int = 4) -> str:
    """A Darknet cfg with every conv but the heads' last ``divisor`` times narrower, the input at
    ``size`` and ``classes`` classes (``edit.set_classes`` rewrites the heads)."""
    cfg = parse_cfg_text(text)
    lines = text.splitlines()
    heads = {cfg.layers[i - 1].key_lines["filters"] for i, s in enumerate(cfg.layers) if s.type == "yolo"}
    for s in cfg.layers:
        line = s.key_lines.get("filters")
        if s.type == "convolutional" and line not in heads:
            lines[line - 1] = f"filters={int(s.options['filters']) // divisor}"
    for key in ("width", "height"):
        lines[cfg.net.key_lines[key] - 1] = f"{key}={size}"
    return set_classes("\n".join(lines) + "\n", classes)


@pytest.fixture
def v7_cfg(tmp_path):
    src = shared_dir() / "darknet" / "yolov7-tiny.cfg"
    if not src.is_file():
        missing_shared(f"{src} not found (set CSPDET_SHARED)")
    cfg = tmp_path / "v7.cfg"
    cfg.write_text(narrow_cfg(src.read_text(), classes=2))
    return cfg


def test_a_new_class_count_rebuilds_the_heads(v7_cfg, tmp_path, capsys):
    from detector.darknet import DarknetModel, save_weights
    from detector.models.loading import load_detector

    pre = DarknetModel(v7_cfg)
    with torch.no_grad():
        for p in pre.parameters():
            p.normal_(0, 0.05)
    weights = tmp_path / "pre.weights"
    save_weights(pre, weights)
    data = shapes(tmp_path / "three", ("circle", "square", "triangle"), 16, seed=2)
    runs = tmp_path / "runs"
    assert main(["train", "--weights", str(weights), "--cfg", str(v7_cfg), "--data", str(data), "--epochs", "1",
                 "--project", str(runs), "--name", "ft", *RECIPE]) == 0
    out = capsys.readouterr().out
    # 3 heads x (weight, bias) re-initialised for 3 classes; everything else from the file
    line = next(ln for ln in out.splitlines() if ln.startswith(f"weights {weights}:"))
    loaded, fresh = (int(v) for v in line.split(": ")[1].split(" (")[0].replace(" tensors loaded,", "").replace(
        " re-initialised", "").split())
    assert fresh == 6 and loaded == len(pre.state_dict()) - 6, line
    model = load_detector(runs / "ft" / "weights" / "last.pt")
    assert model.num_classes == 3 and model.names == ["circle", "square", "triangle"]
    assert model.new_coords == [True] * 3 and (model.nms_kind, model.beta_nms) == ("diou", 0.6)
    kept = next(n for n in pre.state_dict() if n.startswith("blocks.1."))  # a trunk tensor, trained one epoch
    assert not torch.equal(model.state_dict()[kept], pre.state_dict()[kept])
    assert torch.allclose(model.state_dict()[kept], pre.state_dict()[kept], atol=0.05)


@pytest.mark.skipif(not HEAVY, reason="7 min on 2 cores: CSPDET_HEAVY=1")
def test_fine_tuning_yolov7_tiny_from_darknet_weights_beats_training_from_scratch(v7_cfg, tmp_path, capsys):
    pre = shapes(tmp_path / "pre", ("circle", "cross"), 320, seed=0)
    new = shapes(tmp_path / "new", ("square", "triangle"), 160, seed=1)
    runs = tmp_path / "runs"
    assert main(["train", "--cfg", str(v7_cfg), "--data", str(pre), "--epochs", str(PRE_EPOCHS),
                 "--val-interval", str(PRE_EPOCHS), "--project", str(runs), "--name", "pre", *RECIPE]) == 0
    weights = tmp_path / "pre.weights"
    assert main(["convert", "--weights", str(runs / "pre" / "weights" / "best.pt"), "-o", str(weights)]) == 0
    for name, source in [("ft", ["--weights", str(weights), "--cfg", str(v7_cfg)]), ("scratch", ["--cfg", str(v7_cfg)])]:
        assert main(["train", *source, "--data", str(new), "--epochs", str(K), "--val-interval", str(K),
                     "--project", str(runs), "--name", name, *RECIPE]) == 0
    out = capsys.readouterr().out
    assert f"weights {weights}:" in out and "0 re-initialised" in out
    pretrained, fine_tuned, scratch = (final_ap50(runs / n) for n in ("pre", "ft", "scratch"))
    print(f"YOLOv7-tiny/4: AP50 after pretraining {pretrained:.3f}; after {K} epochs on new classes: "
          f"fine-tuned {fine_tuned:.3f}, from scratch {scratch:.3f}")
    assert pretrained >= 0.5
    assert fine_tuned >= 0.25 and fine_tuned >= scratch + 0.15, (fine_tuned, scratch)
