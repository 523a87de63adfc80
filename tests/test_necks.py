"""Necks against the Darknet cfgs they transcribe, run by the Darknet importer."""
import torch

from detector.darknet.detector import DarknetDetector
from detector.models.necks import PRN
from detector.models.specs import FeatureSpec

# yolov3-tiny-prn.cfg layers 14-25 are the PRN neck: 8 is C4 (256 ch, stride 16), 13 is C5 (512 ch,
# stride 32), 16 is P5 (the stride-32 head's input) and 25 is P4 (the stride-16 head's input).
C4, C5, P5, P4 = 8, 13, 16, 25
PRN_CONVS = {"reduce5": 14, "conv5": 15, "reduce4.0": 20, "conv4": 23}


def test_prn_equals_yolov3_tiny_prn_cfg_layers_14_to_25(shared):
    torch.manual_seed(0)
    darknet = DarknetDetector((shared / "darknet" / "yolov3-tiny-prn.cfg").read_text(), "yolov3-tiny-prn.cfg")
    for m in darknet.modules():  # non-trivial batch-norm statistics, so a wrong path cannot hide
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    seen = {}
    for i in (C4, C5, P5, P4):
        darknet.blocks[i].register_forward_hook(lambda m, inp, out, i=i: seen.__setitem__(i, out.clone()))
    neck = PRN([FeatureSpec("c4", 256, 16), FeatureSpec("c5", 512, 32)]).eval()
    for name, i in PRN_CONVS.items():
        neck.get_submodule(name).load_state_dict(darknet.blocks[i].state_dict())
    with torch.no_grad():
        darknet(torch.rand(2, 3, 128, 160))
        out = neck({"c4": seen[C4], "c5": seen[C5]})
    torch.testing.assert_close(out["p5"], seen[P5], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["p4"], seen[P4], rtol=1e-5, atol=1e-5)
