"""The issue's proof for pruning: the shipped shapes model, pruned and briefly fine-tuned, keeps
AP50 within a stated margin of the unpruned model, and its ONNX export matches PyTorch."""
import re

import numpy as np
import pytest
import torch

from detector.cli import main
from detector.resources import default_weights_path

pytest.importorskip("torch_pruning")

# First measurement (R = 0.25, 4 epochs on 160 generated images at 128 px, AdamW lr 0.008, about
# 20 s of CPU; validation: 48 other images): unpruned AP50 0.835, pruned 0.054 before the fine-tune
# and 0.545 after. The bounds: within 0.40 of the unpruned model, and 5x what pruning alone left.
# (The longer fine-tune of docs/power.md, 6 epochs on 1000 images, brings R = 0.25 to 0.05 of it.)
RATIO, EPOCHS, MARGIN = 0.25, 4, 0.40


def ap50(weights, data, project) -> float:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["val", "--weights", str(weights), "--data", str(data), "--img-size", "128", "--project",
                     str(project)]) == 0
    return float(re.search(r"AP50 ([\d.]+)", out.getvalue())[1])


def test_a_pruned_fine_tuned_shapes_model_keeps_ap50_and_exports(tmp_path):
    assert main(["synth", str(tmp_path / "data"), "--train", "160", "--val", "48", "--img-size", "128",
                 "--objects", "2", "5", "--sizes", "22", "100", "--seed", "3"]) == 0
    data = tmp_path / "data" / "data.yaml"
    assert main(["prune", "--weights", str(default_weights_path()), "--ratio", str(RATIO), "--img-size", "128",
                 "--project", str(tmp_path / "prune")]) == 0
    pruned = tmp_path / "prune" / "exp" / "pruned.pt"
    assert main(["train", "--weights", str(pruned), "--data", str(data), "--img-size", "128", "--epochs", str(EPOCHS),
                 "--batch-size", "16", "--nbs", "16", "--optimizer", "adamw", "--lr0", "0.008", "--mosaic", "0",
                 "--warmup-epochs", "1", "--workers", "0", "--project", str(tmp_path / "train")]) == 0
    tuned = tmp_path / "train" / "exp" / "weights" / "best.pt"
    base, before, after = (ap50(w, data, tmp_path / "val") for w in (default_weights_path(), pruned, tuned))
    assert after >= base - MARGIN and after >= 5 * before, (base, before, after)

    from detector.export import export_onnx
    from detector.models.loading import load_detector

    model = load_detector(tuned)
    onnx_path = export_onnx(model, tmp_path / "tuned.onnx", 128)
    import onnxruntime as ort

    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    from detector.geometry import YOLODecoder

    with torch.no_grad():
        ref = YOLODecoder.from_model(model)(model(x)).numpy()
    assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-4, atol=1e-3)
