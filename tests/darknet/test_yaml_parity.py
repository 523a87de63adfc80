"""The YAML detectors compute what the official cfgs compute, once given the same weights."""
from __future__ import annotations

import pytest
import torch

from detector.darknet import DarknetModel, copy_darknet_weights, parse_cfg_text
from detector.models import build_model
from detector.models.config import config_from_dict, load_config
from detector.models.detector import YOLODetector
from tests.conftest import missing_shared, shared_dir

from .helpers import randomize, tiny_cfg

PAIRS = [("yolov4.cfg", "cspdarknet53-panet-spp"), ("csresnext50-panet-spp.cfg", "cspresnext50-panet-spp")]
# Multiples of 32; the second is non-square so H and W cannot be swapped unnoticed.
SIZES = [(128, 128), (160, 224)]
# Max abs difference of the raw maps, whose values reach about 2 under randomize(); both models
# run the same ops in the same order, so the measured difference is 0.
ATOL = 1e-4


@pytest.fixture(scope="module")
def random_darknet():
    """cfg name -> DarknetModel with random weights and BN statistics (eval), built once."""
    models: dict[str, DarknetModel] = {}

    def get(name: str) -> DarknetModel:
        path = shared_dir() / "darknet" / name
        if not path.is_file():
            missing_shared(f"{path} not found (set CSPDET_SHARED to the folder holding darknet/)")
        if name not in models:
            models[name] = DarknetModel(path)
            randomize(models[name], torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(1)), seed=0)
        return models[name]

    return get


def variant(config: str, **changes) -> YOLODetector:
    """A shipped config with some of its stages' keyword arguments changed."""
    d = load_config(config).to_dict()
    for stage, kwargs in changes.items():
        d[stage] = {**d[stage], **kwargs}
    return YOLODetector(config_from_dict(d, f"{config} variant")).eval()


@pytest.mark.parametrize("cfg,config", PAIRS)
def test_yaml_detector_computes_the_official_cfg(random_darknet, cfg, config):
    darknet = random_darknet(cfg)
    model = copy_darknet_weights(darknet, build_model(config).eval())
    with torch.no_grad():
        for hw in SIZES:
            x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(2))
            ours, theirs = model(x), darknet(x)
            assert len(ours) == len(theirs) == 3
            for a, b in zip(ours, theirs):
                assert b.abs().max() > 0.5  # maps of order 1, so ATOL is a real test
                torch.testing.assert_close(a, b, rtol=0, atol=ATOL, msg=lambda m: f"{cfg} at {hw}: {m}")


def test_copy_refuses_another_activation_before_copying(random_darknet):
    model = variant("cspdarknet53-panet-spp", backbone={"act": "leaky"})
    before = model.backbone.stages["stem"][0].weight.clone()
    with pytest.raises(ValueError, match=r"^\S*yolov4.cfg layer 0 \(line \d+\) does not fit cspdarknet53-panet-spp "
                                         r"backbone.stages.stem: activation Mish in the cfg, "
                                         r"LeakyReLU\(0.1\) in the model$"):
        copy_darknet_weights(random_darknet("yolov4.cfg"), model)
    assert torch.equal(model.backbone.stages["stem"][0].weight, before)


def test_copy_refuses_other_anchors(random_darknet):
    model = variant("cspdarknet53-panet-spp", head={"anchors": [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119],
                                                                 [116, 90, 156, 198, 373, 326]]})
    with pytest.raises(ValueError, match=r"output 0: anchors \(\(12.0, 16.0\), .* in the cfg, \(\(10.0, 13.0\), "):
        copy_darknet_weights(random_darknet("yolov4.cfg"), model)


def test_copy_refuses_a_different_layer_count_or_an_unmapped_neck():
    tiny = DarknetModel(parse_cfg_text(tiny_cfg(), "tiny.cfg"))
    with pytest.raises(ValueError, match=r"^tiny.cfg has 3 convolutional layers but cspresnext50-panet-spp has 97$"):
        copy_darknet_weights(tiny, build_model("cspresnext50-panet-spp"))
    with pytest.raises(ValueError, match=r"^csppeleenet-prn: neck 'prn' has no Darknet layer order"):
        copy_darknet_weights(tiny, build_model("csppeleenet-prn"))
