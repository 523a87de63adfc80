"""``cspdet convert`` keeps the .weights header: .weights -> .pt -> .weights is byte-identical for
any Darknet version (major/minor/revision) and ``seen``, stored as uint32 or uint64."""
import numpy as np
import pytest
import torch

from detector.darknet import WeightsHeader, expected_float_count, parse_cfg_text
from detector.darknet.model import DarknetModel
from detector.models.checkpoint import load_checkpoint

from ..io.helpers import one_line_error, run_cli

TINY_YOLO = """\
[net]
width=32
height=32
channels=3
[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky
[convolutional]
filters=18
size=1
stride=1
pad=1
activation=linear
[yolo]
mask=0,1,2
anchors=4,5, 8,9, 12,14
classes=1
num=3
"""


@pytest.mark.parametrize("header", [WeightsHeader(0, 1, 0, 32013312), WeightsHeader(0, 2, 5, 2**40 + 32013312)],
                         ids=["v0.1.0-seen32", "v0.2.5-seen64"])
def test_weights_to_pt_and_back_keeps_every_byte(tmp_path, header):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(TINY_YOLO)
    n = expected_float_count(DarknetModel(parse_cfg_text(TINY_YOLO, "tiny.cfg")), header)
    values = np.random.default_rng(0).standard_normal(n).astype("<f4")
    values[2 * 8:3 * 8] = np.abs(values[2 * 8:3 * 8]) + 0.5  # BN variances
    src = tmp_path / "tiny.weights"
    src.write_bytes(header.to_bytes() + values.tobytes())
    pt, back = tmp_path / "tiny.pt", tmp_path / "back.weights"
    r = run_cli("convert", "--cfg", str(cfg), "--weights", str(src), "-o", str(pt), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_checkpoint(pt)["darknet_header"] == {"major": header.major, "minor": header.minor,
                                                     "revision": header.revision, "seen": header.seen}
    r = run_cli("convert", "--weights", str(pt), "-o", str(back), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert back.read_bytes() == src.read_bytes()


def test_a_checkpoint_without_a_header_writes_darknet_0_2_5_and_a_bad_one_is_named(tmp_path):
    from detector.darknet.detector import DarknetDetector
    from detector.models.checkpoint import save_checkpoint

    model = DarknetDetector.from_text(TINY_YOLO, "tiny.cfg")
    plain = save_checkpoint(tmp_path / "plain.pt", model)
    r = run_cli("convert", "--weights", str(plain), "-o", str(tmp_path / "plain.weights"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "plain.weights").read_bytes()[:20] == WeightsHeader().to_bytes()
    bad = save_checkpoint(tmp_path / "bad.pt", model, darknet_header={"major": "x"})
    r = run_cli("convert", "--weights", str(bad), "-o", str(tmp_path / "bad.weights"), cwd=tmp_path)
    one_line_error(r, "bad.pt: checkpoint entry 'darknet_header' is malformed")
    assert torch.load(bad, weights_only=True)["darknet_header"] == {"major": "x"}
