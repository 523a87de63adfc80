"""What a run leaves to read: results.csv under yolov5's names, results.png, labels.jpg, train batches."""
import cv2
import numpy as np
import pytest

from detector.engine.train_plots import MIN_TILE, bgr, labels_figure, plot_batch, plot_labels
from detector.engine.results_log import COLUMNS, PANELS, ResultsLog

YOLOV5_COLUMNS = ["epoch", "train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision",
                  "metrics/recall", "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss", "val/obj_loss",
                  "val/cls_loss", "x/lr0", "x/lr1", "x/lr2"]
LRS = {"bias": 0.05, "weight": 0.01, "bn": 0.02}


def test_results_csv_has_yolov5s_columns_whole_epochs_and_resumes_an_older_table(tmp_path):
    assert COLUMNS == YOLOV5_COLUMNS
    (tmp_path / "results.csv").write_text("epoch,train/box,train/obj,train/cls,lr,AP50,AP,AP75,APs,APm,APl\n"
                                          "1.0,0.1,0.2,0.3,0.01,0.5,0.3,,,,\n2.0,0.1,0.2,0.3,0.01,,,,,,\n")
    log = ResultsLog(tmp_path, keep=True)  # a run from before these names, resumed
    assert [r["epoch"] for r in log.rows] == [1, 2] and log.rows[0]["metrics/mAP_0.5"] == 0.5
    log.add(2, [0.05, 0.04, 0.03], LRS, {"P": 0.5, "R": 0.25, "AP50": 0.4, "AP": 0.2,
                                         "box_loss": 0.06, "obj_loss": 0.05, "cls_loss": 0.04, "AP75": 0.1})
    log.add(3, [0.05, 0.04, 0.03], LRS, {})  # no validation this epoch: empty cells
    header, *rows = (tmp_path / "results.csv").read_text().splitlines()
    assert header.split(",") == YOLOV5_COLUMNS
    assert rows[2] == "3,0.05,0.04,0.03,0.5,0.25,0.4,0.2,0.06,0.05,0.04,0.05,0.01,0.02"
    assert rows[3] == "4,0.05,0.04,0.03,,,,,,,,0.05,0.01,0.02" and rows[0].startswith("1,0.1,0.2,0.3,,,0.5,0.3,")
    assert [r["epoch"] for r in ResultsLog(tmp_path, keep=True).rows] == [1, 2, 3, 4]
    assert ResultsLog(tmp_path, keep=False).rows == []


@pytest.mark.parametrize("epochs", [1, 3])
def test_results_png_panels_have_whole_epoch_ticks_and_a_flat_zero_ap_a_sensible_range(tmp_path, epochs):
    log = ResultsLog(tmp_path, keep=False)
    for e in range(epochs):
        log.add(e, [0.1 - 0.01 * e, 0.02, 0.03], LRS, {"P": 0.0, "R": 0.0, "AP50": 0.0, "AP": 0.0,
                                                       "box_loss": 0.05, "obj_loss": 0.01 + e, "cls_loss": 0.02})
    fig = log.figure()
    assert [ax.get_title() for ax in fig.axes] == PANELS and len(PANELS) == 10
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(t == int(t) for t in ticks) and min(ticks) >= 1 and max(ticks) <= epochs, ticks
    ap = fig.axes[PANELS.index("metrics/mAP_0.5")]
    lo, hi = ap.get_ylim()
    assert hi == pytest.approx(0.05) and -0.01 < lo < 0  # a line at 0 sits just above the axis, not mid-plot
    if epochs > 1:  # saving at yolov5's 200 dpi takes a second or two
        assert log.plot().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_batch_mosaic_draws_each_box_in_its_class_colour_on_its_tile(tmp_path):
    images = np.full((3, 3, 64, 96), 0.5, np.float32)  # grey 64x96 inputs: tiles grow to MIN_TILE wide
    targets = np.array([[1, 2, 0.5, 0.5, 0.5, 0.5], [2, 0, 0.25, 0.75, 0.2, 0.2]], np.float32)
    path = plot_batch(images, targets, ["a/0001.jpg", "a/0002.jpg", "a/0003.jpg"], ["x", "y", "z"],
                      tmp_path / "train_batch0.jpg")
    img = cv2.imread(str(path))
    scale = MIN_TILE / 96
    th, tw = round(64 * scale), MIN_TILE
    assert img.shape == (2 * th, 2 * tw, 3)  # 3 images: 2 x 2 tiles, row by row
    # tile 1 (top right): a box of class 2 from 25% to 75% of the tile; its left edge at mid height
    x, y = tw + round(0.25 * tw), round(0.5 * th)
    assert np.abs(img[y, x].astype(int) - bgr(2)).max() < 40
    assert np.abs(img[y, x + 10].astype(int) - 128).max() < 10  # inside the box: the image itself
    x, y = round(0.15 * tw), th + round(0.75 * th)  # tile 2 (bottom left): class 0's left edge
    assert np.abs(img[y, x].astype(int) - bgr(0)).max() < 40
    assert (img[th + 4:, tw + 4:] >= 245).all()  # the unused fourth tile stays white (JPEG: nearly)


def test_labels_jpg_is_drawn_for_many_classes_and_for_none(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.c_[rng.integers(0, 80, 300), rng.uniform(0.1, 0.9, (300, 2)), rng.uniform(0.01, 0.3, (300, 2))]
    kept = labels[labels[:, 0] < 60]  # classes 60-79 have no box
    fig = labels_figure(kept, [f"c{i}" for i in range(80)])
    assert [b.get_height() for b in fig.axes[0].patches] == np.bincount(kept[:, 0].astype(int), minlength=80).tolist()
    assert fig.get_suptitle() == f"{len(kept)} labels in {len(np.unique(kept[:, 0]))} of 80 classes"
    for name, lab in [("many.jpg", labels), ("none.jpg", np.zeros((0, 5)))]:
        img = cv2.imread(str(plot_labels(lab, [f"c{i}" for i in range(80)], tmp_path / name)))
        assert img.shape == (1600, 1600, 3)
