"""The numpy and torch YOLO decoders: the spec's formula, row order, and each other."""
import json
import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from detector.models import build_model
from detector.geometry import HeadSpec, YOLODecoder, decode, level_constants

# Two levels with different anchor counts and scale_x_y, so a mix-up of any of them shows.
SPEC = HeadSpec(strides=(8, 16), anchors=(((10, 13), (16, 30), (33, 23)), ((62, 45), (59, 119))),
                scale_x_y=(1.2, 1.05), num_classes=3)
SHAPES = ((3, 5), (2, 3))


def random_maps(spec=SPEC, shapes=SHAPES, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 2, (batch, len(a) * spec.num_outputs, h, w)).astype(np.float32)
            for a, (h, w) in zip(spec.anchors, shapes)]


def naive_decode(maps, spec):
    """The formula, one output row at a time, in (level, anchor, y, x) order (float64)."""
    if spec.new_coords:  # logistic maps: v itself where the classic head has sigmoid(t)
        sig = lambda v: v  # noqa: E731
        wh = lambda v, anchor: (2 * v) ** 2 * anchor  # noqa: E731
    else:
        sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
        wh = lambda v, anchor: math.exp(v) * anchor  # noqa: E731
    rows = []
    for x, s, anchors, k in zip(maps, spec.strides, spec.anchors, spec.scale_x_y):
        b, _, h, w = x.shape
        t = x.reshape(b, len(anchors), spec.num_outputs, h, w).astype(np.float64)
        for a, (aw, ah) in enumerate(anchors):
            for gy in range(h):
                for gx in range(w):
                    v = t[:, a, :, gy, gx]
                    row = [[(sig(p[0]) * k - (k - 1) / 2 + gx) * s, (sig(p[1]) * k - (k - 1) / 2 + gy) * s,
                            wh(p[2], aw), wh(p[3], ah)] + [sig(c) for c in p[4:]] for p in v]
                    rows.append(row)
    return np.array(rows).transpose(1, 0, 2)


def logistic_maps(**kwargs):
    """What a new_coords head emits: maps that went through a logistic activation."""
    return [1 / (1 + np.exp(-m)) for m in random_maps(**kwargs)]


@pytest.mark.parametrize("new_coords", [False, True])
def test_numpy_decode_follows_the_formula_row_by_row(new_coords):
    spec = replace(SPEC, new_coords=new_coords)
    maps = logistic_maps() if new_coords else random_maps()
    out = decode(maps, spec)
    assert out.shape == (2, 3 * 15 + 2 * 6, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out, naive_decode(maps, spec), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("new_coords", [False, True])
def test_torch_decoder_equals_numpy_decoder(static, new_coords):
    spec = replace(SPEC, new_coords=new_coords)
    maps = logistic_maps(batch=3, seed=1) if new_coords else random_maps(batch=3, seed=1)
    ref = decode(maps, spec)
    dec = YOLODecoder(spec, SHAPES if static else None)
    out = dec([torch.from_numpy(m) for m in maps])
    assert out.shape == ref.shape
    # Pixel columns reach ~200 px, where a float32 ulp is 1.5e-5; probabilities are in 0..1.
    np.testing.assert_allclose(out[..., :4].numpy(), ref[..., :4], rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(out[..., 4:].numpy(), ref[..., 4:], rtol=0, atol=1e-6)


def test_traced_constants_equal_the_precomputed_ones():
    maps = [torch.zeros(1, len(a) * SPEC.num_outputs, h, w) for a, (h, w) in zip(SPEC.anchors, SHAPES)]
    traced = YOLODecoder(SPEC).traced_constants(maps, torch.float32)
    for t, ref in zip(traced, level_constants(SPEC, SHAPES)):
        np.testing.assert_allclose(t[0].numpy(), ref, rtol=1e-6, atol=1e-5)


def test_static_decoder_and_numpy_decoder_reject_wrong_maps():
    maps = [torch.from_numpy(m) for m in random_maps()]
    with pytest.raises(ValueError, match=r"map 1 has shape .*\[B, 16, 4, 4\]"):
        YOLODecoder(SPEC, [SHAPES[0], (4, 4)])(maps)
    with pytest.raises(ValueError, match="1 maps for a head with 2 levels"):
        decode([maps[0].numpy()], SPEC)
    with pytest.raises(ValueError, match=r"map 0 .*expected \[B, 24, H, W\] \(3 anchors x \(5 \+ 3\)\)"):
        decode([np.zeros((1, 9, 2, 2), np.float32), maps[1].numpy()], SPEC)


def test_head_spec_from_model_and_through_json_strings():
    model = build_model("csppeleenet-prn")
    spec = HeadSpec.from_model(model)
    assert spec.strides == (16, 32) and spec.num_classes == 80 and spec.scale_x_y == (1.0, 1.0)
    assert spec.anchors[1] == ((81, 82), (135, 169), (344, 319))
    as_strings = {k: json.dumps(v) for k, v in spec.to_dict().items()}
    assert HeadSpec.from_dict(as_strings) == spec
    yolov4_csp = replace(spec, new_coords=True)
    assert HeadSpec.from_dict({k: json.dumps(v) for k, v in yolov4_csp.to_dict().items()}) == yolov4_csp
    older = {k: v for k, v in as_strings.items() if k != "new_coords"}
    assert HeadSpec.from_dict(older).new_coords is False
    mixed = SimpleNamespace(strides=[8, 16], anchors=[torch.ones(1, 2)] * 2, num_classes=1,
                            new_coords=[True, False])
    with pytest.raises(ValueError, match="new_coords differs between levels"):
        HeadSpec.from_model(mixed)
    with pytest.raises(ValueError, match="lacks 'anchors'"):
        HeadSpec.from_dict({"strides": [8]})
    with pytest.raises(ValueError, match="must match"):
        HeadSpec((8, 16), (((1, 1),),), (1.0, 1.0), 1)


def test_decoder_on_real_model_maps_keeps_probabilities_in_range():
    model = build_model("csppeleenet-efm").eval()
    with torch.no_grad():
        maps = model(torch.rand(1, 3, 64, 96))
        out = YOLODecoder.from_model(model)(maps)
    ref = decode([m.numpy() for m in maps], HeadSpec.from_model(model))
    assert out.shape == (1, 3 * (8 * 12 + 4 * 6 + 2 * 3), 85)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-4)
    assert ((ref[..., 4:] >= 0) & (ref[..., 4:] <= 1)).all() and (ref[..., 2:4] > 0).all()
