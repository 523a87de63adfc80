"""The loss on every official Darknet head: classic, scale_x_y and new_coords (YOLOv4-CSP)."""
import pytest
import torch

from detector.darknet.detector import DarknetDetector
from detector.engine import YOLOLoss

from ..darknet.helpers import darknet_cfg, detector_cfg_names


@pytest.mark.parametrize("name", detector_cfg_names())
def test_forward_loss_and_backward_on_every_shared_detector_cfg(name):
    model = DarknetDetector(darknet_cfg(name).read_text(), name).train()
    maps = model(torch.rand(2, 3, 64, 64))
    targets = torch.tensor([[0, 0, 0.5, 0.5, 0.4, 0.6], [1, 79, 0.2, 0.3, 0.1, 0.1], [1, 17, 0.7, 0.7, 0.9, 0.8]])
    total, items = YOLOLoss(model)(maps, targets)
    total.backward()
    assert torch.isfinite(total) and (items > 0).all()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:3]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
