"""The zoo table against the official cfgs (shared copies, read by tests only): input size, params,
the published ``.weights`` byte counts, and GFLOPs for the small models; the shipped entry
against the bundled file."""
import pytest

from detector.darknet import DarknetModel, WeightsHeader, expected_float_count
from detector.models import profile_model, zoo
from detector.models.loading import load_detector
from detector.models.profile import count_params

DARKNET = [m for m in zoo.ZOO.values() if not m.shipped]
SMALL = {"yolov4-tiny", "yolov3-tiny", "yolov3-tiny-prn"}  # a full forward of the others costs seconds each


@pytest.mark.parametrize("entry", DARKNET, ids=lambda m: m.name)
def test_darknet_entry_matches_its_cfg(shared, entry):
    cfg = shared / "darknet" / f"{entry.name}.cfg"
    assert entry.cfg_url.endswith(f"/cfg/{entry.name}.cfg")
    assert (entry.weights_url is None) == (entry.page is not None)
    model = DarknetModel(cfg)
    assert model.input_size == (entry.img_size, entry.img_size)
    assert count_params(model)[0] / 1e6 == pytest.approx(entry.params_m, abs=5e-4)
    header = WeightsHeader()  # the official files: version 0.2.x, 64-bit seen
    assert entry.weights_bytes == header.nbytes + 4 * expected_float_count(model, header)
    if entry.name in SMALL:
        assert profile_model(model, entry.img_size).gflops == pytest.approx(entry.gflops, abs=5e-4)


def test_shipped_entry_matches_the_bundled_model():
    entry = zoo.ZOO["cspdet-shapes"]
    weights, _ = zoo.resolve_weights(entry.name)
    model = load_detector(weights)
    prof = profile_model(model, entry.img_size)
    assert model.img_size == entry.img_size
    assert prof.params / 1e6 == pytest.approx(entry.params_m, abs=5e-4)
    assert prof.gflops == pytest.approx(entry.gflops, abs=5e-4)
    assert zoo.file_size(entry.name) == weights.stat().st_size
