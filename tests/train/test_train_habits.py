"""yolov5's training habits: ``--patience``, ``--cache``, ``--rect``, and best.pt validated with
the per-class table and ``val_batch*_labels/_pred.jpg`` at the end; a stop during a backward pass."""
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from detector.cli import main
from detector.engine.backward import BackwardThread
from detector.engine.train import Trainer
from tests.train.conftest import tiny_cfg


def test_patience_counts_epochs_since_the_best():
    def ran_out(epoch, best_epoch, patience, epochs=10):
        t = SimpleNamespace(epoch=epoch, best_epoch=best_epoch, run_dir=Path("runs/exp"),
                            cfg=SimpleNamespace(patience=patience, epochs=epochs))
        return Trainer.patience_ran_out(t)

    assert not ran_out(3, 1, 3) and ran_out(4, 1, 3) and ran_out(5, 1, 3)
    assert not ran_out(50, 1, 0)  # 0: never
    assert not ran_out(9, 1, 3)  # the last epoch ends the run anyway


def test_a_run_stops_once_patience_runs_out(tiny_data, tmp_path, monkeypatch, capsys):
    scores = iter([0.5, 0.4, 0.3, 0.2, 0.1])
    monkeypatch.setattr(Trainer, "validate", lambda self: dict.fromkeys(("AP50", "AP", "P", "R"), next(scores)))
    t = Trainer(tiny_cfg(tiny_data, tmp_path, epochs=5, patience=2))
    t.fit()
    out = capsys.readouterr().out
    assert "stopping early: no improvement in the last 2 epochs (--patience 2); the best, epoch 1" in out
    assert len((t.run_dir / "results.csv").read_text().splitlines()) == 1 + 3  # epochs 1-3 of 5
    assert "done: 3 epochs" in out


def test_rect_and_cache_train_then_best_pt_is_validated_with_pictures(tiny_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CSPDET_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["train", "--data", str(tiny_data), "--cfg", "csppeleenet-efm-nano", "--img-size", "64",
                 "--epochs", "1", "--batch-size", "8", "--workers", "0", "--rect", "--cache",
                 "--project", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    run = tmp_path / "runs" / "exp"
    assert "--cache ram: 16 train images" in out and f"validating {run / 'weights' / 'best.pt'}" in out
    table = out[out.index("validating"):]
    for row in ("all", "circle", "square", "triangle", "cross"):
        assert f"  {row} " in table or f" {row}  " in table, (row, table)
    assert "Speed:" in table and "per image at shape (8, 3, 96, 96)" in table  # yolov5: + half a stride
    for name in ("val_batch0_labels.jpg", "val_batch0_pred.jpg", "confusion_matrix.png", "F1_curve.png",
                 "PR_curve.png"):
        assert (run / name).is_file(), name
    assert (run / "hyp.yaml").read_text().count("mosaic: 0.0") == 1  # --rect: no mosaic, as yolov5


def test_rect_with_multi_scale_is_one_line(tiny_data, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_data), "--rect", "--multi-scale"]) == 2
    assert capsys.readouterr().err.strip() == ("cspdet train: error: --rect and --multi-scale: choose one "
                                               "(rectangular batches have one shape each)")


def test_an_interrupt_during_a_long_backward_is_acted_on_at_once():
    """A signal while the backward runs raises in the waiting thread before the backward ends."""
    worker, finished = BackwardThread(), threading.Event()

    def slow_backward():
        time.sleep(5)
        finished.set()

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.run(slow_backward)
        assert not finished.is_set()  # acted on while the backward was still running
        assert worker.broken
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    ok = BackwardThread()
    ok.run(lambda: None)
    with pytest.raises(ValueError):
        ok.run(lambda: int("x"))


def test_training_runs_each_backward_pass_off_the_main_thread(tiny_data, tmp_path, monkeypatch):
    """So that the main thread, waiting in slices, can act on a signal during it (see above)."""
    seen = []
    build = Trainer._build_model

    def with_hook(self, checkpoint):
        model = build(self, checkpoint)
        next(model.parameters()).register_hook(lambda grad: seen.append(threading.current_thread().name))
        return model

    monkeypatch.setattr(Trainer, "_build_model", with_hook)
    Trainer(tiny_cfg(tiny_data, tmp_path, epochs=1)).fit()
    assert seen and set(seen) == {"cspdet-backward"}


def test_predictions_are_drawn_where_the_loader_puts_the_labels(tiny_data):
    """val_batch*_pred.jpg's rows: the ground truth given as detections lands on the targets."""
    from detector.data import build_dataset, create_dataloader
    from detector.engine.final_val import pred_rows
    from detector.geometry.boxes import xywh2xyxy

    ds = build_dataset(tiny_data, "val", img_size=64, augment=False)
    images, targets, metas = next(iter(create_dataloader(ds, 4, rect=True, pad=0.5)))
    dets = []
    for m in metas:
        rec = ds.records[m.index]
        for c, *box in rec.labels.tolist():
            x1, y1, x2, y2 = (xywh2xyxy(np.array(box)) * np.array([rec.shape[1], rec.shape[0]] * 2)).tolist()
            dets.append({"image_id": m.image_id, "category_id": ds.category_ids[int(c)], "score": 0.9,
                         "bbox": [x1, y1, x2 - x1, y2 - y1]})
    rows = pred_rows(dets, metas, ds.category_ids)
    assert np.allclose(rows[:, :6], targets.numpy(), atol=1e-3) and (rows[:, 6] == 0.9).all()
