"""Batch norms fused into convs: the same outputs, no BatchNorm2d left, the original untouched."""
import pytest
import torch
import torch.nn as nn

from detector.models.fuse import fold_bn, fuse_conv_bn
from tests.export.helpers import RAW_TOL, random_model


# tests/export/test_onnx.py folds csppeleenet-efm and -prn in every export it compares with the
# unfolded model; these add the SAM gates (a ConvBNAct with a logistic activation) and the plain
# PeleeNet backbone.
@pytest.mark.parametrize("name", ["csppeleenet-efm-sam", "peleenet-efm"])
def test_fold_bn_removes_every_batch_norm_and_keeps_outputs(name):
    model = random_model(name)
    folded = fold_bn(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "the original is left alone"
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for a, b in zip(folded(x), model(x)):
            torch.testing.assert_close(a, b, **RAW_TOL)


def test_fuse_conv_bn_handles_groups_strides_and_an_existing_bias():
    conv = nn.Conv2d(8, 12, 3, 2, 1, groups=4, bias=True)
    bn = nn.BatchNorm2d(12).eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.2, 3)
        bn.weight.uniform_(0.5, 2), bn.bias.uniform_(-1, 1)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(fuse_conv_bn(conv, bn)(x), bn(conv(x)), rtol=1e-5, atol=1e-5)
