"""DarknetModel semantics checked by hand (no OpenCV): layer ops, shapes, metadata, errors."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from detector.darknet import DarknetModel, parse_cfg, parse_cfg_text, plan_layers

from .helpers import darknet_cfg, shared_cfg_names

NET = "[net]\nwidth={w}\nheight={h}\nchannels={c}\n"


def build(body: str, c: int = 4, h: int = 8, w: int = 8) -> DarknetModel:
    return DarknetModel(parse_cfg_text(NET.format(w=w, h=h, c=c) + body, "t.cfg"))


def outputs(model: DarknetModel, x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's output, in cfg order."""
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(o)) for b in model.blocks]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


def conv(filters: int, size: int = 1, act: str = "linear", extra: str = "") -> str:
    return (f"[convolutional]\nfilters={filters}\nsize={size}\nstride=1\npad=1\n"
            f"activation={act}\n{extra}")


def darknet_maxpool(x: np.ndarray, size: int, sx: int, sy: int, padding: int) -> np.ndarray:
    """Direct transcription of Darknet's forward_maxpool_layer loop, for one [C, H, W] map."""
    c, h, w = x.shape
    oh, ow = (h + padding - size) // sy + 1, (w + padding - size) // sx + 1
    out = np.full((c, oh, ow), -np.inf, np.float32)
    off = -(padding // 2)
    for i in range(oh):
        for j in range(ow):
            for n in range(size):
                for m in range(size):
                    y, xx = off + i * sy + n, off + j * sx + m
                    if 0 <= y < h and 0 <= xx < w:
                        out[:, i, j] = np.maximum(out[:, i, j], x[:, y, xx])
    return out


@pytest.mark.parametrize("size, stride, hw", [(2, 2, 7), (2, 2, 8), (3, 2, 7), (5, 1, 6),
                                              (2, 1, 5), (3, 3, 10)])
def test_maxpool_matches_darknet_loop(size, stride, hw):
    model = build(f"[maxpool]\nsize={size}\nstride={stride}\n", c=3, h=hw, w=hw)
    x = torch.randn(1, 3, hw, hw)
    expect = darknet_maxpool(x[0].numpy(), size, stride, stride, size - 1)
    with torch.no_grad():
        got = model(x)[0].numpy()
    assert got.shape == expect.shape == model.layers[0].out_shape
    np.testing.assert_array_equal(got, expect)


def test_maxpool_separate_strides_and_explicit_padding():
    model = build("[maxpool]\nsize=3\nstride_x=2\nstride_y=1\npadding=1\n", c=2, h=6, w=9)
    x = torch.randn(1, 2, 6, 9)
    expect = darknet_maxpool(x[0].numpy(), 3, 2, 1, 1)
    with torch.no_grad():
        np.testing.assert_array_equal(model(x)[0].numpy(), expect)


def test_route_groups_slice_each_input_before_concat():
    body = conv(4) + conv(6) + "[route]\nlayers=-1,0\ngroups=2\ngroup_id=1\n"
    model = build(body)
    a, b, r = outputs(model, torch.randn(1, 4, 8, 8))
    assert torch.equal(r, torch.cat([b[:, 3:], a[:, 2:]], 1))
    assert model.layers[2].out_shape == (5, 8, 8) and model.layers[2].sources == (1, 0)


def test_shortcut_partial_add_in_both_directions():
    body = conv(6) + conv(4) + "[shortcut]\nfrom=-2\n" + conv(8) + "[shortcut]\nfrom=-2\n"
    a, b, s1, c, s2 = outputs(build(body), torch.randn(1, 4, 8, 8))
    assert torch.equal(s1, b + a[:, :4])  # source has more channels: only 4 are read
    assert torch.equal(s2, torch.cat([c[:, :4] + s1, c[:, 4:]], 1))  # fewer: the rest untouched


def test_shortcut_with_several_sources_and_activation():
    body = conv(4) + conv(4) + conv(4) + "[shortcut]\nfrom=0,-2\nactivation=leaky\n"
    a, b, c, s = outputs(build(body), torch.randn(1, 4, 8, 8))
    assert torch.allclose(s, F.leaky_relu(c + a + b, 0.1))


def test_upsample_scale_sam_scale_channels_softmax_groups_and_dropout():
    body = ("[upsample]\nstride=3\nscale=0.5\n" + conv(4) + "[sam]\nfrom=-2\n"
            "[avgpool]\n[scale_channels]\nfrom=-2\n[dropout]\nprobability=.3\n"
            "[softmax]\ngroups=4\ntemperature=2\n")
    x = torch.randn(1, 4, 2, 2)
    up, g, sam, avg, sc, drop, soft = outputs(build(body, h=2, w=2), x)
    assert torch.equal(up, 0.5 * x.repeat_interleave(3, 2).repeat_interleave(3, 3))
    assert torch.equal(sam, up * g)
    assert torch.allclose(avg, sam.mean((2, 3), keepdim=True))
    assert torch.equal(sc, sam * avg) and torch.equal(drop, sc)
    expect = torch.softmax(sc.reshape(1, 4, -1) / 2, -1).reshape(sc.shape)
    assert torch.allclose(soft, expect)


def test_scale_channels_per_position():
    body = conv(6) + conv(1) + "[scale_channels]\nfrom=-2\nscale_wh=1\nactivation=logistic\n"
    a, b, s = outputs(build(body), torch.randn(1, 4, 8, 8))
    assert torch.allclose(s, torch.sigmoid(a * b))


def test_conv_geometry_groups_dilation_strides_and_padding():
    body = ("[convolutional]\nfilters=6\nsize=3\nstride_x=2\nstride_y=1\npad=1\ngroups=2\n"
            "dilation=2\nactivation=linear\n"
            "[convolutional]\nfilters=2\nsize=3\nstride=2\npadding=0\nactivation=mish\n")
    model = build(body, h=9, w=11)
    x = torch.randn(1, 4, 9, 11)
    a, b = outputs(model, x)
    conv1, conv2 = model.blocks[0][0], model.blocks[1][0]
    expect = F.conv2d(x, conv1.weight, conv1.bias, (1, 2), padding=2, dilation=2, groups=2)
    assert torch.allclose(a, expect, atol=1e-6)
    assert torch.allclose(b, F.mish(F.conv2d(a, conv2.weight, conv2.bias, 2)), atol=1e-6)
    assert [s.out_shape for s in model.layers] == [(6, 9, 6), (2, 4, 2)]


def test_conv_without_activation_key_uses_darknets_logistic():
    model = build("[convolutional]\nfilters=2\nsize=1\n")
    (a,) = outputs(model, torch.randn(1, 4, 8, 8))
    assert a.min() > 0 and a.max() < 1


def test_reorg_moves_pixels_as_opencv_does():
    model = build("[reorg]\nstride=2\n", c=8, h=4, w=4)
    x = torch.arange(128.0).reshape(1, 8, 4, 4)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 32, 2, 2)
    flat = x.flatten().numpy()
    expect = np.empty(128, np.float32)  # the per-element loop of OpenCV's reorg_layer.cpp
    c, h, w, s = 8, 4, 4, 2
    out_c = c // (s * s)
    for k in range(c):
        for j in range(h):
            for i in range(w):
                c2, offset = k % out_c, k // out_c
                w2, h2 = i * s + offset % s, j * s + offset // s
                expect[i + w * (j + h * k)] = flat[w2 + w * s * (h2 + h * s * c2)]
    np.testing.assert_array_equal(y.flatten().numpy(), expect)


def test_connected_flattens_chw():
    model = build("[connected]\noutput=3\nactivation=linear\n", c=2, h=2, w=2)
    x = torch.randn(1, 2, 2, 2)
    fc = model.blocks[0].linear
    with torch.no_grad():
        assert torch.allclose(model(x), x.flatten(1) @ fc.weight.T + fc.bias)


def test_yolo_metadata_and_raw_outputs():
    cfg = darknet_cfg("yolov4.cfg")
    model = DarknetModel(cfg)
    assert model.is_detector and model.input_size == (608, 608) and model.in_channels == 3
    assert [y.stride for y in model.yolo] == [8, 16, 32]
    assert [y.scale_x_y for y in model.yolo] == [1.2, 1.1, 1.05]
    assert model.yolo[1].mask == (3, 4, 5) and model.yolo[1].classes == 80
    assert model.yolo[1].anchors == ((36, 75), (76, 55), (72, 146))
    assert not any(y.new_coords for y in model.yolo)
    with torch.no_grad():
        maps = model(torch.rand(1, 3, 64, 96))
    assert [tuple(m.shape) for m in maps] == [(1, 255, 8, 12), (1, 255, 4, 6), (1, 255, 2, 3)]
    csp = DarknetModel(darknet_cfg("yolov4-csp.cfg"))
    assert all(y.new_coords and y.scale_x_y == 2.0 for y in csp.yolo)


@pytest.mark.parametrize("name", shared_cfg_names())
def test_planned_shapes_equal_real_shapes(name):
    """Every LayerSpec shape (planned at 64 x 96) is what the layer really outputs."""
    cfg = parse_cfg(darknet_cfg(name))
    specs, _ = plan_layers(cfg, (3, 64, 96))
    model = DarknetModel(cfg)
    got = [tuple(o.shape[1:]) for o in outputs(model, torch.rand(1, 3, 64, 96))]
    assert got == [s.out_shape for s in specs]
    assert [s.type for s in model.layers] == [s.type for s in cfg.layers]


@pytest.mark.parametrize("body, pattern", [
    (conv(4) + "[route]\nlayers=3\n", r"^t\.cfg:12: layers=3 does not name an earlier layer"),
    ("[shortcut]\nfrom=-1\n", r"^t\.cfg:6: from=-1 does not name an earlier layer"),
    (conv(4, extra="binary=1\n"), r"^t\.cfg:11: binary=1 is not supported in \[convolutional\]"),
    (conv(4, act="elu"), r"^t\.cfg:10: activation 'elu' is not supported"),
    (conv(4) + "[shortcut]\nfrom=-1\nweights_type=per_channel\n",
     r"^t\.cfg:13: weighted shortcuts"),
    (conv(30) + "[yolo]\nmask=0,1\nanchors=1,2,3,4\nclasses=2\nnum=2\n",
     r"^t\.cfg:11: input has 30 channels, but mask \[0, 1\] and classes=2 need 14"),
    (conv(3) + "[maxpool]\nmaxpool_depth=1\nout_channels=2\n",
     r"^t\.cfg:13: maxout needs input channels 3 to be a multiple of out_channels=2"),
    (conv(4) + "[maxpool]\nsize=2\nstride=2\n[route]\nlayers=-1,-2\n",
     r"^t\.cfg:15: layer 0 is 8x8 but layer 1 is 4x4 in \[route\]$"),
    (conv(4) + "[maxpool]\nsize=2\nstride=2\n[shortcut]\nfrom=0\n",
     r"^t\.cfg:15: layer 0 is 8x8 but the previous layer is 4x4 in \[shortcut\]$"),
])
def test_impossible_graphs_are_refused_with_file_and_line(body, pattern):
    with pytest.raises(ValueError) as info:
        build(body)
    assert "\n" not in str(info.value)
    assert re.search(pattern, str(info.value)), str(info.value)
