"""Dataset items: format, letterbox geometry, augmentation end to end, seeds, bad images."""
import numpy as np
import pytest
import torch

from detector.data import AugmentConfig, ItemKey, LabelWarning, build_dataset
from detector.geometry.boxes import xywh2xyxy
from detector.geometry.letterbox import letterbox, scale_boxes

from .helpers import COLOURS, colour_mask, extent, read_bgr, tensor_to_bgr, write_rect_dataset, write_yaml


@pytest.fixture
def rect_yaml(tmp_path):
    write_rect_dataset(tmp_path, n=6, shape=(96, 128))
    return write_yaml(tmp_path)


def pixel_boxes(labels, shape):
    """Item labels [K, 5] normalised -> (classes, xyxy px) for an input of ``shape`` (h, w)."""
    h, w = shape
    cls, cx, cy, bw, bh = labels.numpy().T
    return cls.astype(int), np.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w,
                                      (cy + bh / 2) * h], 1)


def test_val_item_is_the_shared_letterbox_with_boxes_on_the_pixels(rect_yaml):
    ds = build_dataset(rect_yaml, "val", img_size=(80, 160))
    assert ds.augment is False and len(ds) == 6
    for i in range(len(ds)):
        img, labels, meta = ds[i]
        assert img.dtype == torch.float32 and img.shape == (3, 80, 160) and 0 <= img.min() <= img.max() <= 1
        assert labels.dtype == torch.float32 and labels.shape[1] == 5 and len(labels) == len(ds.records[i].labels)
        expected, info = letterbox(read_bgr(meta.path), (80, 160))
        assert meta.letterbox == info and meta.orig_shape == (96, 128) and meta.shape == (80, 160)
        out = tensor_to_bgr(img)
        np.testing.assert_array_equal(out, expected)  # RGB 0..1 tensor == the letterboxed BGR image
        cls, boxes = pixel_boxes(labels, (80, 160))
        for k, box in zip(cls, boxes):
            np.testing.assert_allclose(box, extent(colour_mask(out, COLOURS[k])), atol=1)
        # And back to the original image, as evaluation does.
        h0, w0 = meta.orig_shape
        original = xywh2xyxy(ds.records[i].labels[:, 1:].astype(np.float32)) * [w0, h0, w0, h0]
        np.testing.assert_allclose(scale_boxes(boxes, meta.letterbox), original, atol=1e-3)


def test_channel_order_is_rgb(rect_yaml):
    ds = build_dataset(rect_yaml, "val", img_size=128)
    img, labels, _ = ds[0]
    cls, boxes = pixel_boxes(labels, (128, 128))
    k = list(cls).index(0) if 0 in cls else None
    assert k is not None  # COLOURS[0] is pure red in BGR: (0, 0, 255)
    x1, y1, x2, y2 = boxes[k].round().astype(int)
    patch = img[:, y1 + 1:y2 - 1, x1 + 1:x2 - 1]
    assert (patch[0] > 0.99).all() and (patch[1:] < 0.01).all()


@pytest.mark.parametrize("mosaic", [0.0, 1.0])
def test_train_items_are_augmented_deterministically_per_seed(rect_yaml, mosaic):
    hyp = AugmentConfig(mosaic=mosaic, degrees=10)
    ds = build_dataset(rect_yaml, "train", img_size=96, hyp=hyp)
    assert ds.augment is True
    img, labels, meta = ds[2]
    assert img.shape == (3, 96, 96) and labels.shape[1] == 5 and meta.letterbox is None
    assert (labels[:, 1:] >= 0).all() and (labels[:, 1:] <= 1).all() and (labels[:, 3:] > 0).all()
    again = ds[2]
    assert torch.equal(img, again[0]) and torch.equal(labels, again[1])
    other = build_dataset(rect_yaml, "train", img_size=96, hyp=hyp, seed=1)[2]
    assert not torch.equal(img, other[0])
    big = ds[ItemKey(2, (128, 160), (0, 3, 2))]
    assert big[0].shape == (3, 128, 160) and big[2].shape == (128, 160)


def test_augmented_item_boxes_follow_the_pixels_end_to_end(rect_yaml):
    # No colour jitter (the boxes are found by colour); affine and flips on, linear interpolation.
    hyp = AugmentConfig(mosaic=0, hsv_h=0, hsv_s=0, hsv_v=0, degrees=0, scale=0.4, translate=0.2,
                        fliplr=0.5, flipud=0.5)
    ds = build_dataset(rect_yaml, "train", img_size=(96, 112), hyp=hyp)
    checked = 0
    for i in range(len(ds)):
        for epoch in range(3):
            img, labels, meta = ds[ItemKey(i, (96, 112), (7, epoch, i))]
            out = tensor_to_bgr(img)
            cls, boxes = pixel_boxes(labels, (96, 112))
            for k, box in zip(cls, boxes):
                np.testing.assert_allclose(box, extent(colour_mask(out, COLOURS[k])), atol=2)
                checked += 1
    assert checked > 30


def test_indexing_errors_and_dataset_properties(rect_yaml):
    ds = build_dataset(rect_yaml, "val", img_size=64)
    assert ds.nc == 12 and ds.category_ids == list(range(12)) and len(ds.labels) == 6
    assert ds[-1][2].index == 5
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(ValueError, match=r"data.yaml: no 'test' split"):
        build_dataset(rect_yaml, "test")


def test_an_image_that_breaks_after_indexing_is_left_out_of_validation_not_replaced(rect_yaml):
    ds = build_dataset(rect_yaml, "val", img_size=64)
    broken = ds.records[3].path
    with open(broken, "wb") as f:
        f.write(b"garbage")
    with pytest.warns(LabelWarning, match=f"{broken}: unreadable image, skipped \\(cannot decode image .*\\); "
                                          "left out of validation"):
        img, labels, meta = ds[3]
    assert meta.index == 3 and meta.path == broken and meta.image_id == ds.records[3].image_id
    assert meta.error.startswith(f"{broken}: cannot decode image") and len(labels) == 0
    assert img.shape == (3, 64, 64) and ds[4][2].error is None


def test_training_lets_the_next_image_stand_in_and_says_so(rect_yaml):
    ds = build_dataset(rect_yaml, "train", img_size=64, hyp=AugmentConfig(mosaic=0.0))
    broken = ds.records[3].path
    with open(broken, "wb") as f:
        f.write(b"garbage")
    with pytest.warns(LabelWarning, match=f"{broken}: unreadable image, skipped .*; another image stands in"):
        _, _, meta = ds[3]
    assert meta.index == 4 and meta.path == ds.records[4].path and meta.error is None


def test_validation_never_credits_an_unreadable_image_to_another(rect_yaml):
    from detector.data import create_dataloader
    from detector.engine.validate import evaluate_model, ground_truth, predict_dataset
    from detector.models import build_model

    ds = build_dataset(rect_yaml, "val", img_size=64)
    broken = ds.records[2]
    open(broken.path, "wb").close()
    loader = create_dataloader(ds, batch_size=4, shuffle=False)
    model = build_model("csppeleenet-efm-nano").eval()
    model.head.convs[0].bias.data.fill_(3)  # random weights: force scores over conf_thres
    skipped = set()
    with pytest.warns(LabelWarning, match="left out of validation"):
        dets = predict_dataset(model, loader, skipped=skipped)
    assert skipped == {broken.image_id}
    assert dets and {d["image_id"] for d in dets} == {r.image_id for r in ds.records} - skipped
    assert {im["id"] for im in ground_truth(ds, skipped)["images"]} == {r.image_id for r in ds.records} - skipped
    assert "AP50" in evaluate_model(model, loader)  # reported once, above; scored without it


def test_ground_truth_for_coco_evaluation_has_int_ids_and_original_sizes(tmp_path):
    from detector.data import make_synthetic_dataset

    yaml_path = make_synthetic_dataset(tmp_path, n_train=2, n_val=3, img_size=(64, 96))
    ds = build_dataset(yaml_path, "val", img_size=64)
    items = ds.coco_items()
    assert [it["image_id"] for it in items] == [0, 1, 2]  # stems like val_00000 are not numbers
    assert items[1]["width"] == 96 and items[1]["height"] == 64 and items[1]["file_name"] == "val_00001.jpg"
    np.testing.assert_array_equal(items[2]["labels"], ds.records[2].labels)
    assert ds[1][2].image_id == 1
    evaluate = pytest.importorskip("detector.engine.evaluate")
    gt = evaluate.yolo_to_coco_gt(items, category_ids=ds.category_ids, names=ds.names)
    assert len(gt["images"]) == 3 and len(gt["annotations"]) == sum(len(r.labels) for r in ds.records)
    assert {c["id"] for c in gt["categories"]} == set(ds.category_ids)
