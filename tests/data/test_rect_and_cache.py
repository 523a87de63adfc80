"""yolov5's ``--rect`` batches and ``--cache ram|disk`` images: the same labels, the same geometry
back to the original pixels, fewer pixels to infer."""
import numpy as np
import pytest

from detector.data import build_dataset, create_dataloader, make_synthetic_dataset
from detector.data.rect import rect_batches
from detector.geometry.letterbox import scale_boxes
from detector.geometry.boxes import xywh2xyxy


def test_rect_batches_follow_yolov5s_shapes():
    shapes = [(360, 640), (640, 360), (360, 640), (100, 100), (640, 360), (360, 640)]
    batches, sizes = rect_batches(shapes, 3, 256, 32)
    assert batches == [[0, 2, 5], [3, 1, 4]]  # by h / w: the wide ones, then square and tall
    assert sizes == [(160, 256), (256, 256)]  # ceil(0.5625 * 256 / 32) * 32; a mixed batch stays square
    assert rect_batches(shapes[1:2], 1, 256, 32)[1] == [(256, 160)]
    assert rect_batches(shapes[:1], 1, 256, 32, pad=0.5)[1] == [(160, 288)]  # ceil(4.5 + 0.5), ceil(8 + 0.5)
    assert rect_batches(shapes[3:4], 1, 256, 32, pad=0.5)[1] == [(288, 288)]  # yolov5 val pads squares too


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    root = tmp_path_factory.mktemp("wide")
    return make_synthetic_dataset(root, 6, 5, img_size=(96, 160), seed=1)


def test_rect_loader_batches_are_smaller_and_map_back_to_the_original(wide):
    ds = build_dataset(wide, "val", img_size=128, augment=False)
    loader = create_dataloader(ds, 2, rect=True, pad=0.0)
    seen = 0
    for images, targets, metas in loader:
        assert images.shape[2:] == (96, 128)  # 0.6 * 128 = 76.8 -> 3 strides of 32
        for k, meta in enumerate(metas):
            rec = ds.records[meta.index]
            gt = xywh2xyxy(rec.labels[:, 1:]) * np.array([rec.shape[1], rec.shape[0]] * 2)
            mine = targets[targets[:, 0] == k][:, 2:].numpy()
            back = scale_boxes(xywh2xyxy(mine) * [128, 96, 128, 96], meta.letterbox)
            assert np.allclose(back, gt, atol=0.6), (back, gt)
            seen += 1
    assert seen == len(ds)
    with pytest.raises(ValueError, match="--rect"):
        create_dataloader(build_dataset(wide, "train", img_size=128), 2, rect=True, multi_scale=True)


@pytest.mark.parametrize("mode", ["ram", "disk"])
def test_cached_images_give_the_same_items_in_the_original_geometry(wide, mode, tmp_path, monkeypatch):
    monkeypatch.setenv("CSPDET_CACHE_DIR", str(tmp_path / "cache"))
    plain = build_dataset(wide, "val", img_size=64, augment=False)  # 64 < 160: the cache keeps 38x64 copies
    cached = build_dataset(wide, "val", img_size=64, augment=False)
    assert cached.cache_images(mode, progress=False) > 0
    if mode == "disk":
        assert len(list((tmp_path / "cache" / "images").glob("*.npy"))) == len(cached)
    for i in range(len(plain)):
        (a, la, ma), (b, lb, mb) = plain[i], cached[i]
        assert a.shape == b.shape and float((a - b).abs().mean()) < 0.03  # resized twice, not once
        assert np.allclose(la, lb, atol=2e-3)
        assert mb.orig_shape == ma.orig_shape == tuple(plain.records[i].shape)
        box = np.array([[10.0, 20.0, 60.0, 50.0]])
        assert np.allclose(scale_boxes(box, mb.letterbox), scale_boxes(box, ma.letterbox), atol=1.5)


def test_a_changed_image_is_cached_afresh(wide, tmp_path, monkeypatch):
    import cv2

    monkeypatch.setenv("CSPDET_CACHE_DIR", str(tmp_path / "cache"))
    ds = build_dataset(wide, "train", img_size=64, augment=False)
    ds.cache_images("disk", progress=False)
    path = ds.records[0].path
    before = ds.cache.get(path)
    cv2.imwrite(path, np.zeros((96, 160, 3), np.uint8))
    assert ds.cache.get(path) is None  # the old entry is keyed on the old file
    ds.cache_images("disk", progress=False)
    assert ds.cache.get(path).max() == 0 and before.max() > 0
