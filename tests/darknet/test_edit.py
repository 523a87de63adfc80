"""Class-count rewriting of cfg text, and where a cfg's backbone ends."""
import difflib

import pytest

from detector.darknet import parse_cfg_text, plan_layers
from detector.darknet.detector import DarknetDetector
from detector.darknet.edit import backbone_length, set_classes

from .helpers import darknet_cfg, detector_cfg_names


def changed_lines(a: str, b: str) -> list[str]:
    return [ln for ln in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
            if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]


@pytest.mark.parametrize("name", detector_cfg_names())
def test_set_classes_changes_only_classes_and_the_feeding_filters(name):
    text = darknet_cfg(name).read_text()
    new = set_classes(text, 3, name)
    cfg = parse_cfg_text(new, name)
    specs, _ = plan_layers(cfg)  # the planner checks filters == len(mask) * (5 + classes)
    yolos = [s for s in specs if s.type == "yolo"]
    assert all(s.section.get_int("classes") == 3 for s in yolos)
    assert all(s.in_shapes[0][0] == 8 * len(s.section.get_ints("mask")) for s in yolos)
    diff = changed_lines(text, new)
    assert len(diff) == 4 * len(yolos)  # one -/+ pair for classes=, one for filters=, per head
    assert {ln[1:].split("=")[0] for ln in diff} == {"classes", "filters"}


def test_missing_classes_key_is_written_after_the_header(shared):
    # Darknet's default is 20 classes: 3 * (20 + 5) = 75 filters.
    text = (shared / "darknet" / "yolov3-tiny.cfg").read_text()
    text = text.replace("classes=80", "").replace("filters=255", "filters=75")
    new = set_classes(text, 2, "tiny")
    model = DarknetDetector(new, "tiny")
    assert model.num_classes == 2 and [y.classes for y in model.yolo] == [2, 2]
    assert new.count("[yolo]\nclasses=2\n") == 2


def test_a_head_fed_by_something_else_is_refused_with_file_and_line():
    text = ("[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=21\nsize=1\n"
            "[route]\nlayers=-1\n[yolo]\nmask=0,1,2\nanchors=1,1,2,2,3,3\nclasses=2\nnum=3\n")
    with pytest.raises(ValueError, match=r"^odd.cfg:10: fed by a \[route\]"):
        set_classes(text, 4, "odd.cfg")


@pytest.mark.parametrize("name, length", [("yolov3-tiny", 13), ("yolov3-tiny-prn", 14), ("yolov4-tiny", 27),
                                          ("yolov4", 116), ("csdarknet53-panet-spp", 116),
                                          ("csresnext50-panet-spp", 92), ("yolov4-csp", 113)])
def test_backbone_ends_where_the_paths_to_the_heads_part(name, length):
    cfg = parse_cfg_text(darknet_cfg(f"{name}.cfg").read_text(), name)
    specs, _ = plan_layers(cfg)
    assert backbone_length(specs, cfg.input_shape[1:], name) == length
    assert specs[length].type == "convolutional"  # the neck's first conv, reading the deepest feature
