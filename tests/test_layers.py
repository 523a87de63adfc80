import pytest
import torch

from detector.layers import ACTIVATIONS, SAM, SPP, ConvBNAct, Maxout, make_act


def darknet_maxout(x: torch.Tensor, out_c: int) -> torch.Tensor:
    """Darknet maxpool_layer.c with maxpool_depth=1: for g in out_c, max over k = g, g+out_c, ..."""
    b, c, h, w = x.shape
    out = torch.empty(b, out_c, h, w)
    for g in range(out_c):
        out[:, g] = torch.stack([x[:, k] for k in range(g, c, out_c)]).amax(0)
    return out


@pytest.mark.parametrize("c,n", [(8, 4), (12, 3), (16, 4), (6, 6), (9, 1)])
def test_maxout_matches_darknet_loop(c, n):
    x = torch.randn(2, c, 5, 7)
    y = Maxout(n)(x)
    assert y.shape == (2, n, 5, 7)
    torch.testing.assert_close(y, darknet_maxout(x, n), rtol=0, atol=0)
    torch.testing.assert_close(y, x.view(2, c // n, n, 5, 7).amax(1), rtol=0, atol=0)


def test_maxout_worked_example_keeps_interleaved_groups_and_its_input():
    # C=6, N=2: out[0] = max(x0, x2, x4), out[1] = max(x1, x3, x5); contiguous groups would give
    # [max(x0, x1, x2), max(x3, x4, x5)] = [-1, -2], a mean [-4, -3.33], a zero start [0, 0].
    x = torch.tensor([-5.0, -1.0, -3.0, -7.0, -4.0, -2.0]).view(1, 6, 1, 1)
    before = x.clone()
    assert Maxout(2)(x).flatten().tolist() == [-3.0, -1.0]
    assert torch.equal(x, before), "Maxout wrote into its input (EFM feeds one map to several branches)"


def test_maxout_has_no_parameters_and_rejects_bad_widths():
    assert list(Maxout(4).parameters()) == []
    with pytest.raises(ValueError, match="not a multiple"):
        Maxout(4)(torch.zeros(1, 6, 2, 2))
    with pytest.raises(ValueError):
        Maxout(0)


def test_maxout_gradient_flows_only_to_the_winner():
    x = torch.tensor([[1.0, 5.0, 3.0, 2.0]]).view(1, 4, 1, 1).requires_grad_()
    Maxout(2)(x).sum().backward()
    assert x.grad.flatten().tolist() == [0.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_conv_bn_act_shapes_and_activation(act):
    m = ConvBNAct(4, 6, 3, 2, act=act).eval()
    y = m(torch.randn(1, 4, 9, 10))
    assert y.shape == (1, 6, 5, 5)
    if act in ("relu", "logistic"):
        assert y.min() >= 0


def test_leaky_slope_is_darknets():
    assert make_act("leaky")(torch.tensor([-1.0])).item() == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="unknown activation"):
        make_act("gelu")


def test_conv_without_bn_has_bias():
    m = ConvBNAct(3, 5, 1, bn=False)
    assert m[0].bias is not None and len(m) == 2


def test_sam_gates_input_with_sigmoid_of_conv():
    m = SAM(6).eval()
    x = torch.randn(2, 6, 4, 4)
    torch.testing.assert_close(m(x), x * torch.sigmoid(m.gate[1](m.gate[0](x))))


def test_spp_concat_order_is_darknets():
    x = torch.randn(1, 3, 13, 13)
    y = SPP()(x)
    assert y.shape == (1, 12, 13, 13)
    torch.testing.assert_close(y[:, 9:], x)  # input last
    torch.testing.assert_close(y[:, :3], torch.nn.functional.max_pool2d(x, 13, 1, 6))  # 13x13 first
