"""Every registered backbone and neck keeps its declared contract."""
import pytest
import torch

from detector.darknet.cfg import parse_cfg
from detector.darknet.plan import plan_layers
from detector.models import BACKBONES, NECKS, build_model, load_config
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


@pytest.mark.parametrize("config", CONFIGS)
def test_anchor_areas_grow_within_and_across_levels(config):
    """Darknet's order: each level's anchors ascend in area and none of a finer level is larger
    than one of a coarser level, so small objects are assigned to the high-resolution maps."""
    model = build_model(config)
    assert model.strides == sorted(model.strides)
    areas = [a.prod(1).tolist() for a in model.anchors]
    for stride, level in zip(model.strides, areas):
        assert level == sorted(level), f"stride {stride}: anchor areas {level} do not ascend"
    for fine, coarse in zip(areas, areas[1:]):
        assert max(fine) <= min(coarse), f"anchor areas {fine} overlap the next level's {coarse}"


def darknet_anchors(cfg_path) -> dict[int, list[list[float]]]:
    """{stride: that [yolo] layer's (w, h) anchors in mask order}, as the Darknet importer reads them."""
    specs, factories = plan_layers(parse_cfg(cfg_path))
    heads = [factories[s.index]() for s in specs if s.type == "yolo"]  # parameter-free, cheap to build
    return {int(y.stride): [list(a) for a in y.anchors] for y in heads}


# The COCO configs keep the anchors of the Darknet detectors whose weights they take: YOLOv3's
# (as in csresnext50-panet-spp.cfg) on three levels, yolov3-tiny-prn.cfg's masks on two, and
# yolov4.cfg's for CSPDarknet53-PANet-SPP, which is yolov4.cfg's network.
REFERENCE_CFG = {"csppeleenet-prn": "yolov3-tiny-prn.cfg", "cspdarknet53-panet-spp": "yolov4.cfg"}


@pytest.mark.parametrize("config", [c for c in CONFIGS if load_config(c).num_classes == 80])
def test_coco_configs_carry_the_official_darknet_anchors(config, shared):
    model = build_model(config)
    ours = {s: a.tolist() for s, a in zip(model.strides, model.anchors)}
    assert ours == darknet_anchors(shared / "darknet" / REFERENCE_CFG.get(config, "csresnext50-panet-spp.cfg"))
