"""Darknet .cfg parser: layout rules, line numbers and file:line errors."""
from __future__ import annotations

import re

import pytest

from detector.darknet import parse_cfg, parse_cfg_text

from .helpers import darknet_cfg, shared_cfg_names

MESSY = """\
# a leading comment
[network]
 width = 64   # inline comment
height=32
channels= 3
; a semicolon comment

[conv]
batch_normalize =1
filters = 16 ;inline
size=3
  stride  = 1
pad=1
activation=leaky

[yolo]
mask = 0, 1 ,2,
anchors = 10,13,  16,30, 33,23
jitter=.3
ignore_thresh = .7
truth_thresh = 1
random=1
iou_normalizer=0.07
iou_loss=ciou
nms_kind=greedynms
beta_nms=0.6
max_delta=5
"""


def test_comments_spacing_blank_lines_and_aliases():
    cfg = parse_cfg_text(MESSY, "messy.cfg")
    assert cfg.input_shape == (3, 32, 64)
    assert cfg.net.type == "net" and cfg.net.line == 2
    conv, yolo = cfg.layers
    assert conv.type == "convolutional" and conv.line == 8
    assert conv.options == {"batch_normalize": "1", "filters": "16", "size": "3",
                            "stride": "1", "pad": "1", "activation": "leaky"}
    assert conv.key_lines["filters"] == 10 and conv.key_lines["stride"] == 12
    assert yolo.get_ints("mask") == [0, 1, 2]  # spaces and a trailing comma are ignored
    assert yolo.get_floats("anchors") == [10, 13, 16, 30, 33, 23]
    assert yolo.where("anchors") == "messy.cfg:18"


def _error(text: str, name: str = "bad.cfg") -> str:
    with pytest.raises(ValueError) as info:
        parse_cfg_text(text, name)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_layer_type_names_file_and_line():
    text = "[net]\nwidth=8\nheight=8\nchannels=3\n\n[foo]\nsize=1\n"
    assert _error(text) == "bad.cfg:6: unknown layer type [foo]"


def test_unknown_key_names_file_and_line(tmp_path):
    path = tmp_path / "yolov4.cfg"
    lines = ["[net]", "width=8", "height=8", "channels=3", "[convolutional]", "filters=8",
             "size=3", " foo = 1", "activation=leaky"]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"^yolov4\.cfg:8: unknown key 'foo' in "
                                         r"\[convolutional\]$"):
        parse_cfg(path)


def test_unknown_key_in_net_section():
    assert _error("[net]\nwidth=8\nwidht=8\n") == "bad.cfg:3: unknown key 'widht' in [net]"


@pytest.mark.parametrize("text, pattern", [
    ("[net]\nwidth=8\n[lstm]\noutput=4\n", r"^bad\.cfg:3: layer type \[lstm\] is not supported"),
    ("width=8\n[net]\n", r"^bad\.cfg:1: option 'width=8' before any \[section\]$"),
    ("[convolutional]\nsize=1\n", r"^bad\.cfg:1: first section must be \[net\]"),
    ("[net]\nwidth=8\n[maxpool]\nsize\n", r"^bad\.cfg:4: expected key=value, got 'size'"),
    ("[net]\nwidth=8\n[maxpool]\nsize=2\nsize=3\n",
     r"^bad\.cfg:5: key 'size' repeats with a different value \(first at line 4\)"),
    ("[net]\nwidth=8\n[net]\n", r"^bad\.cfg:3: a second \[net\] section$"),
])
def test_malformed_cfgs_are_refused_with_file_and_line(text, pattern):
    assert re.search(pattern, _error(text))


def test_typed_getters_report_the_key_line():
    cfg = parse_cfg_text("[net]\nwidth=8\n[maxpool]\n\nsize=two\n", "t.cfg")
    with pytest.raises(ValueError, match=r"^t\.cfg:5: key 'size' expects an integer, got 'two' "
                                         r"in \[maxpool\]$"):
        cfg.layers[0].get_int("size", 2)


@pytest.mark.parametrize("name", shared_cfg_names())
def test_every_shared_cfg_parses_with_its_training_keys(name):
    cfg = parse_cfg(darknet_cfg(name))
    assert cfg.layers and cfg.input_shape[0] == 3
    for sec in cfg.layers:
        assert sec.line > cfg.net.line and all(n >= sec.line for n in sec.key_lines.values())

