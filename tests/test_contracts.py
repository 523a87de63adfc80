"""Every registered backbone and neck keeps its declared contract."""
import pytest
import torch

from detector.models import BACKBONES, NECKS, build_model
from detector.models.config import CONFIG_DIR
from detector.models.heads import YOLOHead

SIZES = [(64, 64), (96, 160)]
NECK_ANCHORS = {"prn": 2}


def check_specs(specs, feats, size):
    assert list(feats) == [s.name for s in specs]
    for spec in specs:
        t = feats[spec.name]
        assert t.shape[1] == spec.channels, spec
        assert t.shape[2:] == (-(-size[0] // spec.stride), -(-size[1] // spec.stride)), spec


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_declared_specs_equal_real_shapes(name, size):
    bb = BACKBONES[name]().eval()
    with torch.no_grad():
        check_specs(bb.out_specs, bb(torch.randn(1, 3, *size)), size)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize("neck", sorted(NECKS))
def test_neck_declared_specs_equal_real_shapes(neck, backbone):
    size = (96, 160)
    bb = BACKBONES[backbone]().eval()
    nk = NECKS[neck](bb.out_specs).eval()
    with torch.no_grad():
        out = nk(bb(torch.randn(1, 3, *size)))
        check_specs(nk.out_specs, out, size)
        head = YOLOHead(nk.out_specs, num_classes=3, anchors=[[10, 13, 16, 30, 33, 23]] * len(nk.out_specs))
        maps = head(out)
    for m, spec in zip(maps, nk.out_specs):
        assert m.shape[1] == 3 * (5 + 3)


CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS)
def test_detector_forward_backward_reaches_every_parameter(config):
    model = build_model(config).train()
    outs = model(torch.randn(2, 3, 64, 96))
    assert len(outs) == len(model.strides)
    for out, stride, anchors in zip(outs, model.strides, model.anchors):
        assert out.shape == (2, len(anchors) * (5 + model.num_classes), 64 // stride, 96 // stride)
        assert torch.isfinite(out).all()
    sum((o.float() ** 2).mean() for o in outs).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} gradient is all zero"


def test_required_configs_exist():
    for name in ["csppeleenet-efm", "csppeleenet-efm-sam", "csppeleenet-prn", "peleenet-efm",
                 "cspdarknet53-efm", "cspdarknet53-panet-spp", "cspresnext50-panet-spp"]:
        assert name in CONFIGS
