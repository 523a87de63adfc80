"""Proof of learning: the shipped model's nano architecture, trained from scratch for about two
minutes on 2 CPU cores, detects the project's generated shapes (circles and crosses in random
colours, sizes and rotations on textured backgrounds) at mAP50 >= 0.5 on held-out images.

The recipe (96 px, 22 epochs of 320 images, AdamW) reached mAP50 0.74 when it was chosen; the
0.5 bar leaves room for kernel-level differences between CPUs.
"""
import yaml

from detector.data import make_synthetic_dataset
from detector.engine.train import Trainer, TrainConfig
from detector.models.config import CONFIG_DIR

SIZE = 96
# The nano config's anchors are fitted to 256-px inputs; these cover the 22-56 px objects here,
# as a user fits anchors to their own data.
ANCHORS = [[16, 22, 22, 30, 28, 36], [34, 42, 40, 48, 48, 56], [56, 64, 64, 72, 72, 81]]


def test_small_model_learns_shapes_from_scratch(tmp_path):
    data = make_synthetic_dataset(tmp_path / "shapes", n_train=320, n_val=64, img_size=(SIZE, SIZE), seed=0,
                                  classes=("circle", "cross"), objects=(2, 5), sizes=(60, 150))
    model = yaml.safe_load((CONFIG_DIR / "csppeleenet-efm-nano.yaml").read_text())
    model.update(img_size=SIZE, num_classes=2, names=["circle", "cross"])
    model["head"]["anchors"] = ANCHORS
    (tmp_path / "nano96.yaml").write_text(yaml.safe_dump(model))

    cfg = TrainConfig(model=str(tmp_path / "nano96.yaml"), data=str(data), img_size=SIZE, epochs=22,
                      batch_size=16, nbs=16, optimizer="adamw", lr0=0.006, weight_decay=5e-4,
                      warmup_epochs=1, mosaic=0.0, workers=0, val_interval=11, project=str(tmp_path / "runs"))
    metrics = Trainer(cfg).fit()
    assert metrics["AP50"] >= 0.5, f"mAP50 {metrics['AP50']:.3f} after 22 epochs"
    assert metrics["AP"] > 0.25
