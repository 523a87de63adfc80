"""Darknet .weights I/O: exact layout, header variants, round trips and refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from detector.darknet import (DarknetModel, WeightsHeader, expected_float_count, load_weights,
                              parse_cfg_text, save_weights)

# Input 2 x 4 x 4. Conv with BN (3 x 2 x 3 x 3), conv without BN (2 x 3 x 1 x 1),
# connected with BN (32 -> 5), connected without BN (5 -> 3).
SMALL = """\
[net]
width=4
height=4
channels=2
[convolutional]
batch_normalize=1
filters=3
size=3
stride=1
pad=1
activation=leaky
[convolutional]
filters=2
size=1
stride=1
pad=1
activation=linear
[connected]
output=5
batch_normalize=1
activation=relu
[connected]
output=3
activation=linear
"""
SMALL_FLOATS = (3 * 4 + 3 * 2 * 9) + (2 + 2 * 3) + (5 + 5 * 32 + 3 * 5) + (3 + 3 * 5)


def small_model(text: str = SMALL) -> DarknetModel:
    return DarknetModel(parse_cfg_text(text, "small.cfg"))


def write_file(path, header: WeightsHeader, values: np.ndarray) -> None:
    path.write_bytes(header.to_bytes() + values.astype("<f4").tobytes())


def test_layout_puts_every_value_where_darknet_reads_it(tmp_path):
    model = small_model()
    assert expected_float_count(model) == SMALL_FLOATS
    values = np.arange(SMALL_FLOATS, dtype=np.float32)
    write_file(tmp_path / "w.weights", WeightsHeader(), values)
    load_weights(model, tmp_path / "w.weights")

    def take(n, shape=None):
        out = torch.from_numpy(values[take.pos:take.pos + n].copy())
        take.pos += n
        return out.reshape(shape) if shape else out
    take.pos = 0

    conv, bn = model.blocks[0][0], model.blocks[0][1]
    # conv: biases, scales, rolling mean, rolling variance, weights
    for t in (bn.bias, bn.weight, bn.running_mean, bn.running_var):
        assert torch.equal(t, take(3))
    assert torch.equal(conv.weight, take(54, (3, 2, 3, 3)))
    conv2 = model.blocks[1][0]
    assert torch.equal(conv2.bias, take(2)) and torch.equal(conv2.weight, take(6, (2, 3, 1, 1)))
    fc = model.blocks[2]  # connected: biases, weights, then scales, mean, var (Darknet's order)
    assert torch.equal(fc.bn.bias, take(5)) and torch.equal(fc.linear.weight, take(160, (5, 32)))
    for t in (fc.bn.weight, fc.bn.running_mean, fc.bn.running_var):
        assert torch.equal(t, take(5))
    fc2 = model.blocks[3]
    assert torch.equal(fc2.linear.bias, take(3))
    assert torch.equal(fc2.linear.weight, take(15, (3, 5)))
    assert take.pos == SMALL_FLOATS


def test_transposed_connected_weights_when_major_or_minor_exceeds_1000(tmp_path):
    model = small_model()
    values = np.arange(SMALL_FLOATS, dtype=np.float32)
    write_file(tmp_path / "t.weights", WeightsHeader(1001, 0, 0, 7), values)
    header = load_weights(model, tmp_path / "t.weights")
    assert header.transposed and header.seen_bytes == 4 and header.seen == 7
    start = 3 * 4 + 54 + 8 + 5
    stored = torch.from_numpy(values[start:start + 160].copy()).reshape(32, 5)
    assert torch.equal(model.blocks[2].linear.weight, stored.T)


@pytest.mark.parametrize("header", [
    WeightsHeader(0, 2, 5, 2**40 + 7),  # seen as uint64 (major*10 + minor >= 2)
    WeightsHeader(0, 1, 0, 123456),  # seen as uint32 (old Darknet)
    WeightsHeader(1001, 1002, 3, 99),  # transposed FC weights; seen as uint32
], ids=["seen64", "seen32", "transposed"])
def test_load_then_save_is_byte_identical(tmp_path, header):
    values = np.random.default_rng(0).standard_normal(SMALL_FLOATS).astype(np.float32)
    src, dst = tmp_path / "src.weights", tmp_path / "dst.weights"
    write_file(src, header, values)
    model = small_model()
    assert load_weights(model, src) == header
    assert model.weights_header.seen == header.seen
    save_weights(model, dst)
    assert dst.read_bytes() == src.read_bytes()
    assert len(src.read_bytes()) == 12 + header.seen_bytes + 4 * SMALL_FLOATS


def test_seen_width_follows_version():
    assert WeightsHeader(0, 2, 0).seen_bytes == 8 and WeightsHeader(1, 0, 0).seen_bytes == 8
    assert WeightsHeader(0, 1, 9).seen_bytes == 4 and WeightsHeader(0, 0, 0).seen_bytes == 4
    assert WeightsHeader(1000, 0, 0).seen_bytes == 4


def test_save_without_header_writes_darknet_0_2_5(tmp_path):
    model = small_model()
    save_weights(model, tmp_path / "new.weights")
    data = (tmp_path / "new.weights").read_bytes()
    assert np.frombuffer(data, "<i4", count=3).tolist() == [0, 2, 5]
    assert len(data) == 20 + 4 * SMALL_FLOATS
    again = small_model()
    load_weights(again, tmp_path / "new.weights")
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("extra_floats, label", [
    (-SMALL_FLOATS, "header-only"), (-1, "truncated"), (-100, "truncated more"),
    (1, "oversized"), (1000, "much bigger"),
])
def test_wrong_float_counts_are_refused_with_expected_and_found(tmp_path, extra_floats, label):
    path = tmp_path / "bad.weights"
    write_file(path, WeightsHeader(), np.zeros(SMALL_FLOATS + extra_floats, np.float32))
    with pytest.raises(ValueError) as info:
        load_weights(small_model(), path)
    message = str(info.value)
    assert message == (f"bad.weights: expected {SMALL_FLOATS} floats for small.cfg, "
                       f"found {SMALL_FLOATS + extra_floats}")


def test_partial_float_and_short_header_are_refused(tmp_path):
    path = tmp_path / "odd.weights"
    path.write_bytes(WeightsHeader().to_bytes() + b"\0" * (4 * SMALL_FLOATS + 2))
    with pytest.raises(ValueError, match=r"^odd\.weights: .* not a whole number of float32"):
        load_weights(small_model(), path)
    path.write_bytes(np.array([0, 2, 5], "<i4").tobytes() + b"\0\0")
    with pytest.raises(ValueError, match=r"^odd\.weights: truncated header: 14 bytes, need 20$"):
        load_weights(small_model(), path)
    path.write_bytes(b"\0" * 5)
    with pytest.raises(ValueError, match=r"^odd\.weights: 5 bytes is too short"):
        load_weights(small_model(), path)


def test_refused_file_leaves_the_model_untouched(tmp_path):
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    write_file(tmp_path / "short.weights", WeightsHeader(), np.ones(SMALL_FLOATS - 1, np.float32))
    with pytest.raises(ValueError):
        load_weights(model, tmp_path / "short.weights")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.weights_header is None


def test_dontload_and_dontloadscales_skip_values_like_darknet(tmp_path):
    text = SMALL.replace("activation=leaky", "activation=leaky\ndontloadscales=1", 1)
    text = text.replace("output=3\n", "output=3\ndontload=1\n")
    model = small_model(text)
    assert expected_float_count(model) == SMALL_FLOATS - 3 * 3 - 18
    values = np.arange(SMALL_FLOATS - 27, dtype=np.float32)
    write_file(tmp_path / "d.weights", WeightsHeader(), values)
    load_weights(model, tmp_path / "d.weights")
    conv = model.blocks[0]
    assert torch.equal(conv[1].bias, torch.arange(3.0))
    assert torch.equal(conv[1].running_var, torch.ones(3))  # default, not read
    assert torch.equal(conv[0].weight.flatten()[:2], torch.tensor([3.0, 4.0]))
