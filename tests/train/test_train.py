import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from detector.engine.results_log import COLUMNS
from detector.engine.train import Trainer
from detector.models.checkpoint import load_checkpoint
from detector.models.loading import load_detector

from .conftest import tiny_cfg


class Killed(Exception):
    pass


def seed_global_rngs(seed: int) -> None:
    """Seed the torch, numpy and python ``random`` global generators."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def assert_same(a, b, where: str = "checkpoint") -> None:
    """Recursive exact equality of checkpoint contents: dicts, sequences, tensors, arrays, scalars."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(map(str, set(a) ^ set(b)))} differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where}: tensors differ"
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), f"{where}: arrays differ"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_kill_and_resume_continues_the_uninterrupted_run(tiny_data, tmp_path, one_thread):
    """The resumed run ends with the same losses, weights, EMA, optimizer and global RNG states
    (torch, numpy, python) as an uninterrupted run with the same seed."""
    seed_global_rngs(0)
    full = Trainer(tiny_cfg(tiny_data, tmp_path / "a"))
    full.fit()

    def kill_after_first_epoch(trainer):
        if trainer.epoch == 0:
            raise Killed  # as if the process died right after last.pt was written

    seed_global_rngs(0)
    first = Trainer(tiny_cfg(tiny_data, tmp_path / "b"), callbacks={"epoch_end": kill_after_first_epoch})
    with pytest.raises(Killed):
        first.fit()
    last = first.run_dir / "weights" / "last.pt"
    seed_global_rngs(1)  # a new process: only the checkpoint can bring the states back
    resumed = Trainer.resume(last)
    assert resumed.epoch == 1 and resumed.run_dir == first.run_dir
    resumed.fit()
    per_epoch = len(full.history) // 3
    assert first.history == full.history[:per_epoch]
    assert resumed.history == full.history[per_epoch:], "resumed losses differ from the uninterrupted run"
    a, b = (load_checkpoint(p) for p in (full.run_dir / "weights" / "last.pt", last))
    assert a["ema"] is not None and a["rng"]["numpy"] and a["rng"]["python"]  # else nothing to compare
    for ckpt in (a, b):
        del ckpt["train"]["project"]  # the one entry that differs: the two runs' folders
    assert_same(a, b)
    rows = (first.run_dir / "results.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].split(",") == COLUMNS
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]  # whole epochs, also after --resume


def test_run_outputs_and_checkpoint_contents(tiny_data, tmp_path):
    t = Trainer(tiny_cfg(tiny_data, tmp_path, epochs=1, plots=True))
    metrics = t.fit()
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "P", "R", "box_loss", "obj_loss",
            "cls_loss"} <= set(metrics)
    for f in ["results.csv", "results.png", "PR_curve.png", "labels.jpg", "train_batch0.jpg", "train_batch1.jpg",
              "weights/last.pt", "weights/best.pt"]:
        assert (t.run_dir / f).is_file(), f
    assert not (t.run_dir / "train_batch2.jpg").exists()  # 16 images: two batches in this one epoch
    header, row = (t.run_dir / "results.csv").read_text().splitlines()
    row = dict(zip(header.split(","), row.split(",")))
    assert float(row["val/box_loss"]) == pytest.approx(metrics["box_loss"], rel=1e-4) and row["epoch"] == "1"
    assert float(row["metrics/mAP_0.5"]) == pytest.approx(metrics["AP50"], abs=1e-5)
    assert float(row["x/lr0"]) > 0 and float(row["metrics/recall"]) == pytest.approx(metrics["R"], abs=1e-5)
    ckpt = load_checkpoint(t.run_dir / "weights" / "last.pt")
    assert {"model", "ema", "optimizer", "epoch", "train", "rng", "names", "arch"} <= set(ckpt)
    assert ckpt["names"] == ["circle", "square", "triangle", "cross"]
    model = load_detector(t.run_dir / "weights" / "best.pt")  # EMA weights, ready to deploy
    assert model.names == ckpt["names"] and not model.training
    with pytest.raises(ValueError, match="already finished"):
        Trainer.resume(t.run_dir / "weights" / "last.pt")
    again = Trainer(tiny_cfg(tiny_data, tmp_path, epochs=1))
    again.fit()
    assert again.run_dir.name == "exp2"  # a new run never overwrites an old one


def test_a_failed_save_keeps_the_previous_checkpoint(tiny_data, tmp_path, monkeypatch):
    t = Trainer(tiny_cfg(tiny_data, tmp_path, epochs=2))
    t.fit()
    last = t.run_dir / "weights" / "last.pt"
    before = last.read_bytes()

    def broken_save(obj, f, *a, **k):  # atomic_save hands torch.save the temp file's path
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        t.save(is_best=False)
    assert last.read_bytes() == before
    assert not [p for p in last.parent.iterdir() if p.name.endswith(".tmp")]


def test_model_with_other_classes_gets_a_new_head(tiny_data, tmp_path):
    t = Trainer(tiny_cfg(tiny_data, tmp_path, model="csppeleenet-prn", epochs=1, img_size=64))
    assert t.model.num_classes == 4 and t.model.head.convs[0].out_channels == 3 * 9


def test_torchrun_ddp_two_cpu_processes(tiny_data, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "detector", "train", "--model", "csppeleenet-efm-nano", "--data", str(tiny_data), "--epochs", "1",
           "--batch-size", "4", "--nbs", "8", "--img-size", "64", "--workers", "0", "--project", str(tmp_path / "ddp")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "ddp" / "exp" / "weights" / "last.pt").is_file()
    assert not (tmp_path / "ddp" / "exp2").exists()  # only rank 0 writes
    ckpt = load_checkpoint(tmp_path / "ddp" / "exp" / "weights" / "last.pt")
    assert not any(k.startswith("module.") for k in ckpt["model"])


def test_train_and_val_cli(tiny_data, tmp_path, capsys):
    from detector.cli import main

    assert main(["train", "--model", "csppeleenet-efm-nano", "--data", str(tiny_data), "--epochs", "1",
                 "--batch-size", "8", "--img-size", "64", "--workers", "0", "--project", str(tmp_path / "t")]) == 0
    best = tmp_path / "t" / "exp" / "weights" / "best.pt"
    assert main(["val", "--weights", str(best), "--data", str(tiny_data), "--img-size", "64",
                 "--project", str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert "AP50" in out and (tmp_path / "v" / "exp" / "metrics.json").is_file()
    assert main(["train", "--epochs", "1"]) == 2
    assert "--data DATA.yaml is required" in capsys.readouterr().err


def test_hyp_file_overrides_augmentation_and_rejects_unknown_keys(tiny_data, tmp_path, capsys):
    from detector.cli import build_parser
    from detector.cli.train import config_from_args
    from detector.engine.train import augment_config

    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("scale: 0.2\nfliplr: 0.0\n")
    args = build_parser().parse_args(["train", "--data", str(tiny_data), "--hyp", str(hyp), "--mosaic", "0.3"])
    cfg = config_from_args(args)
    aug = augment_config(cfg)
    assert (aug.scale, aug.fliplr, aug.mosaic, aug.translate) == (0.2, 0.0, 0.3, 0.1)

    from detector.cli import main

    hyp.write_text("scale: 0.2\nlr_0: 0.01\n")
    assert main(["train", "--data", str(tiny_data), "--hyp", str(hyp)]) == 2
    err = capsys.readouterr().err
    assert f"--hyp {hyp}: unknown key 'lr_0'" in err and len(err.strip().splitlines()) == 1
    for text, message in [("scale: -1\n", "scale"), ("lr0: 0\n", "lr0: must be > 0"),
                          ("momentum: fast\n", "momentum: \"'fast'\" is not a number"),
                          ("box: 0.05\nbox_gain: 0.05\n", "'box' (yolov5's name) and 'box_gain'")]:
        hyp.write_text(text)
        assert main(["train", "--data", str(tiny_data), "--hyp", str(hyp)]) == 2
        assert message in capsys.readouterr().err, text


YOLOV5_SCRATCH_LOW = """lr0: 0.02  # initial learning rate (SGD=1E-2, Adam=1E-3)
lrf: 0.05
momentum: 0.9
weight_decay: 0.0004
warmup_epochs: 2.0
warmup_momentum: 0.7
warmup_bias_lr: 0.05
box: 0.07  # box loss gain
cls: 0.4
cls_pw: 1.0
obj: 0.8
obj_pw: 1.0
iou_t: 0.20
anchor_t: 4.0
# anchors: 3  # anchors per output layer (0 to ignore)
fl_gamma: 0.0
hsv_h: 0.02
hsv_s: 0.7
hsv_v: 0.4
degrees: 0.0
translate: 0.1
scale: 0.5
shear: 0.0
perspective: 0.0
flipud: 0.0
fliplr: 0.5
mosaic: 0.9
mixup: 0.0
copy_paste: 0.0
"""


def test_a_yolov5_hyp_file_sets_what_cspdet_does_and_names_the_rest_once(tiny_data, tmp_path):
    from detector.cli import build_parser
    from detector.cli.train import config_from_args
    from detector.engine.train import augment_config

    hyp = tmp_path / "hyp.scratch-low.yaml"
    hyp.write_text(YOLOV5_SCRATCH_LOW)
    args = build_parser().parse_args(["train", "--data", str(tiny_data), "--hyp", str(hyp), "--lrf", "0.1"])
    with pytest.warns(UserWarning) as record:
        cfg = config_from_args(args)
    assert [str(w.message) for w in record] == [
        f"--hyp {hyp}: yolov5 key(s) cls_pw, obj_pw, iou_t, anchor_t, fl_gamma, perspective, mixup, copy_paste "
        "have no counterpart in cspdet and are ignored"]
    assert (cfg.lr0, cfg.lrf, cfg.momentum, cfg.weight_decay) == (0.02, 0.1, 0.9, 0.0004)  # --lrf wins
    assert (cfg.warmup_epochs, cfg.warmup_momentum, cfg.warmup_bias_lr) == (2.0, 0.7, 0.05)
    assert (cfg.box, cfg.box_gain, cfg.cls_gain, cfg.obj_gain, cfg.mosaic) == ("ciou", 0.07, 0.4, 0.8, 0.9)
    assert augment_config(cfg).hsv_h == 0.02
