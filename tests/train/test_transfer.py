"""Proof of transfer: Darknet weights pretrained on two shape classes, written as a real
``.weights`` file, give a head start on two other shape classes.

A scaled-down yolov3-tiny (``tiny_darknet_cfg``: 11 convs, heads at strides 16 and 8, 0.24 M
parameters) learns circles and crosses at 96 px for PRE_EPOCHS epochs; ``cspdet convert`` writes
it as ``.weights`` (+ .cfg); then ``cspdet train --weights pre.weights --cfg tiny.cfg`` and
``cspdet train --cfg tiny.cfg`` each train K epochs on squares and triangles (160 images) with the
same recipe. Measured when chosen (2 CPU cores, one thread): pretrained AP50 0.777; after 6
epochs on the new classes AP50 0.405 fine-tuned against 0.093 from scratch (another data seed:
0.392 / 0.054; at 4 epochs 0.300 / 0.038, at 8 epochs 0.464 / 0.116; with two threads 0.395 /
0.075). About 50 s in all. The bars leave room for kernel-level differences between CPUs.
"""
import pytest
import yaml

from detector.cli import main
from detector.data import make_synthetic_dataset

from .conftest import tiny_darknet_cfg

SIZE, PRE_EPOCHS, K = 96, 15, 6
RECIPE = ["--img", str(SIZE), "--batch-size", "16", "--nbs", "16", "--optimizer", "adamw", "--lr0", "0.006",
          "--warmup-epochs", "1", "--mosaic", "0", "--workers", "0"]


pytestmark = pytest.mark.usefixtures("one_thread")


def shapes(root, classes, n_train, seed):
    return make_synthetic_dataset(root, n_train, 64, img_size=(SIZE, SIZE), seed=seed, classes=classes,
                                  objects=(2, 5), sizes=(60, 150))


def final_ap50(run_dir) -> float:
    """AP50 of the last epoch, from the run's own results.csv."""
    header, *rows = (run_dir / "results.csv").read_text().splitlines()
    return float(dict(zip(header.split(","), rows[-1].split(",")))["metrics/mAP_0.5"])


def test_fine_tuning_from_darknet_weights_beats_training_from_scratch(tmp_path, capsys):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(tiny_darknet_cfg(classes=2, size=SIZE))
    pre = shapes(tmp_path / "pre", ("circle", "cross"), 320, seed=0)
    new = shapes(tmp_path / "new", ("square", "triangle"), 160, seed=1)
    runs = tmp_path / "runs"

    assert main(["train", "--cfg", str(cfg), "--data", str(pre), "--epochs", str(PRE_EPOCHS),
                 "--val-interval", str(PRE_EPOCHS), "--project", str(runs), "--name", "pre", *RECIPE]) == 0
    weights = tmp_path / "pre.weights"
    assert main(["convert", "--weights", str(runs / "pre" / "weights" / "best.pt"), "-o", str(weights)]) == 0
    for name, source in [("ft", ["--weights", str(weights), "--cfg", str(cfg)]), ("scratch", ["--cfg", str(cfg)])]:
        assert main(["train", *source, "--data", str(new), "--epochs", str(K), "--val-interval", str(K),
                     "--project", str(runs), "--name", name, *RECIPE]) == 0
    out = capsys.readouterr().out
    assert f"weights {weights}: 58 tensors loaded, 0 re-initialised" in out  # same class count: all of it
    assert yaml.safe_load((runs / "ft" / "opt.yaml").read_text())["weights"] == str(weights)

    pretrained, fine_tuned, scratch = (final_ap50(runs / n) for n in ("pre", "ft", "scratch"))
    print(f"AP50 after pretraining {pretrained:.3f}; after {K} epochs on new classes: fine-tuned "
          f"{fine_tuned:.3f}, from scratch {scratch:.3f}")
    assert pretrained >= 0.5
    assert fine_tuned >= 0.25 and fine_tuned >= scratch + 0.15, (fine_tuned, scratch)
