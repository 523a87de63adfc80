"""Darknet cfgs past detector.limits are refused with file:line before anything is allocated."""
import pytest

from detector.darknet import DarknetModel, parse_cfg_text, plan_layers

NET = "[net]\nwidth={w}\nheight=64\nchannels=3\n"
CONV = "[convolutional]\nfilters={f}\nsize={k}\nstride=1\npad=1\nactivation=leaky\n"


def cfg(w=64, convs=((16, 3),), tail=""):
    return NET.format(w=w) + "".join(CONV.format(f=f, k=k) for f, k in convs) + tail


@pytest.mark.parametrize("text,match", [
    (cfg(w=100000), r"t.cfg:2: width=100,000 exceeds the cap of 8,192"),
    (cfg(convs=((1000000000, 3),)), r"t.cfg:6: filters=1,000,000,000 exceeds the cap of 65,536"),
    (cfg(convs=((255, 1),), tail="[yolo]\nclasses=1000000\nmask=0\nanchors=1,2\n"),
     r"t.cfg:12: classes=1,000,000 exceeds the cap of 100,000"),
])
def test_sizes_past_the_caps_are_file_line_errors(text, match):
    with pytest.raises(ValueError, match=match):
        plan_layers(parse_cfg_text(text, "t.cfg"))


def test_a_planned_input_size_is_capped_too():
    with pytest.raises(ValueError, match=r"t.cfg: input width=20,000 exceeds the cap of 8,192"):
        plan_layers(parse_cfg_text(cfg(), "t.cfg"), (3, 64, 20000))


def test_capped_keys_that_still_add_up_to_too_many_parameters_are_refused_unallocated():
    # Two 65536-filter 3x3 convs: 38.6 G parameters (155 GB) that each key alone allows.
    with pytest.raises(ValueError, match=r"t.cfg: the model would have 38,656,606,208 parameters, over the cap"):
        DarknetModel(parse_cfg_text(cfg(convs=((65536, 3), (65536, 3))), "t.cfg"))
    assert DarknetModel(parse_cfg_text(cfg(), "t.cfg")).blocks[0][0].weight.shape == (16, 3, 3, 3)
