"""COCO JSON datasets: contiguous classes with the original ids kept, crowd and bad boxes left out."""
import json

import cv2
import numpy as np
import pytest

from detector.data import LabelWarning, build_dataset, load_coco

from .helpers import COLOURS, colour_mask, draw_rects, extent, tensor_to_bgr

CATEGORIES = [{"id": 7, "name": "kite"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}]


def write_coco(root, extra_annotations=(), extra_images=()):
    """Two PNG images in root/images and root/annotations/instances.json (category ids 1, 3, 7)."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    images, annotations = [], []
    for image_id, shape, rects in [(42, (60, 80), [(5, 6, 25, 30), (40, 10, 70, 50)]),
                                   (7, (50, 50), [(10, 10, 30, 40)])]:
        img, _ = draw_rects(shape, rects, COLOURS)
        cv2.imwrite(str(root / "images" / f"{image_id:012d}.png"), img)
        images.append({"id": image_id, "file_name": f"{image_id:012d}.png", "height": shape[0], "width": shape[1]})
        for k, (x1, y1, x2, y2) in enumerate(rects):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": [1, 3, 7][k],
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "iscrowd": 0, "area": 1.0})
    annotations += list(extra_annotations)
    images += list(extra_images)
    path = root / "annotations" / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))
    yaml_path = root / "data.yaml"
    yaml_path.write_text("val: {images: images, annotations: annotations/instances.json}\n")
    return yaml_path, path


def test_categories_become_contiguous_classes_and_ids_are_kept(tmp_path):
    yaml_path, _ = write_coco(tmp_path)
    ds = build_dataset(yaml_path, "val", img_size=64)
    assert ds.names == ["person", "car", "kite"] and ds.category_ids == [1, 3, 7]
    assert [r.image_id for r in ds.records] == [7, 42] and ds.records[1].shape == (60, 80)
    np.testing.assert_allclose(ds.records[1].labels[0], [0, 15 / 80, 18 / 60, 20 / 80, 24 / 60], atol=1e-6)
    assert ds.records[1].labels[:, 0].tolist() == [0, 1]  # category 1 -> class 0, 3 -> class 1
    img, labels, meta = ds[1]
    assert meta.image_id == 42 and meta.orig_shape == (60, 80)
    out = tensor_to_bgr(img)
    for cls, cx, cy, w, h in labels.numpy():
        box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) * 64
        # class k was drawn in COLOURS[k]: the k-th rectangle of its image
        np.testing.assert_allclose(box, extent(colour_mask(out, COLOURS[int(cls)])), atol=1)


def test_crowd_unknown_and_out_of_image_annotations_are_left_out_with_warnings(tmp_path):
    bad = [{"id": 101, "image_id": 7, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1},
           {"id": 102, "image_id": 7, "category_id": 2, "bbox": [0, 0, 5, 5]},
           {"id": 103, "image_id": 7, "category_id": 3, "bbox": [30, 30, 40, 10]},
           {"id": 104, "image_id": 99, "category_id": 3, "bbox": [0, 0, 5, 5]},
           {"id": 105, "image_id": 7, "category_id": 3, "bbox": [1, 1, 0, 5]},
           {"id": 106, "image_id": 7, "category_id": 3, "bbox": [0, 0, 50.02, 5]}]  # within tolerance
    missing = {"id": 5, "file_name": "nope.png", "height": 10, "width": 10}
    _, path = write_coco(tmp_path, bad, [missing])
    with pytest.warns(LabelWarning) as record:
        index = load_coco(path, tmp_path / "images")
    messages = [str(w.message) for w in record]
    assert f"{path}: annotation 102: unknown category_id 2; label dropped" in messages
    assert any(m.startswith(f"{path}: annotation 103: bbox [30, 30, 40, 10] outside") for m in messages)
    assert f"{path}: annotation 104: unknown image_id 99; label dropped" in messages
    assert any(m.startswith(f"{path}: annotation 105: non-positive bbox size") for m in messages)
    assert any(m.endswith("nope.png: image not found, skipped") for m in messages)
    assert not any("101" in m or "106" in m for m in messages) and len(messages) == 5
    by_id = {r.image_id: r for r in index.records}
    assert set(by_id) == {7, 42}
    assert len(by_id[7].labels) == 2 and by_id[7].labels[1, 3] == 1.0  # 106 kept, clipped to the width


def test_names_in_the_yaml_must_match_the_categories_and_files_must_exist(tmp_path):
    yaml_path, _ = write_coco(tmp_path)
    yaml_path.write_text("val: {images: images, annotations: annotations/instances.json}\nnames: [a, b]\n")
    with pytest.raises(ValueError, match=r"data.yaml: 2 names but .*instances.json has 3 categories"):
        build_dataset(yaml_path, "val")
    with pytest.raises(FileNotFoundError, match="COCO annotations '.*nope.json' not found"):
        load_coco(tmp_path / "nope.json", tmp_path / "images")
    (tmp_path / "bad.json").write_text('{"images": []}')
    with pytest.raises(ValueError, match=r"bad.json: not a COCO instances file \(no 'annotations' list\)"):
        load_coco(tmp_path / "bad.json", tmp_path / "images")


def test_non_finite_and_degenerate_boxes_are_reported_like_bad_yolo_lines(tmp_path):
    bad = [{"id": 201, "image_id": 7, "category_id": 3, "bbox": [float("nan"), 1, 5, 5]},
           {"id": 202, "image_id": 7, "category_id": 3, "bbox": [1, 1, float("inf"), 5]},
           {"id": 203, "image_id": 7, "category_id": 3, "bbox": [1, 1, 5, -2]},
           {"id": 204, "image_id": 7, "category_id": 3, "bbox": [60, 60, 5, 5]},
           {"id": 205, "image_id": 7, "category_id": 3, "bbox": [1, 1, True, 5]},
           {"id": 206, "image_id": [7], "category_id": [3], "bbox": [1, 1, 5, 5]},
           "not an annotation"]
    _, path = write_coco(tmp_path, bad)
    with pytest.warns(LabelWarning) as record:
        index = load_coco(path, tmp_path / "images")
    messages = [str(w.message) for w in record]
    assert f"{path}: annotation 201: non-finite bbox [nan, 1, 5, 5]; label dropped" in messages
    assert f"{path}: annotation 202: non-finite bbox [1, 1, inf, 5]; label dropped" in messages
    assert f"{path}: annotation 203: non-positive bbox size w=5 h=-2; label dropped" in messages
    assert f"{path}: annotation 204: bbox [60, 60, 5, 5] outside the 50x50 image; label dropped" in messages
    assert f"{path}: annotation 205: bbox must be 4 numbers, got [1, 1, True, 5]; label dropped" in messages
    assert f"{path}: annotation 206: unknown image_id [7]; label dropped" in messages
    assert f"{path}: annotation #9: not an object; label dropped" in messages
    assert len(messages) == 7 and len({r.image_id: r for r in index.records}[7].labels) == 1


@pytest.mark.parametrize("edit,match", [
    (lambda d: d["categories"][1].pop("id"), r"instances.json: categories\[1\]: 'id' must be an integer, got None"),
    (lambda d: d["images"][0].pop("width"), r"instances.json: images\[0\]: 'width' must be a positive number"),
    (lambda d: d["images"][1].update(height=float("nan")), r"images\[1\]: 'height' must be a positive number"),
    (lambda d: d["images"][1].update(id=42), r"images\[1\]: duplicate 'id' 42"),
    (lambda d: d.pop("categories"), r"instances.json: not a COCO instances file \(no 'categories' list\)"),
])
def test_entries_without_their_keys_are_one_line_errors_naming_file_and_key(tmp_path, edit, match):
    _, path = write_coco(tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match) as e:
        load_coco(path, tmp_path / "images")
    assert "\n" not in str(e.value)


def test_a_top_level_list_or_a_binary_file_is_not_an_instances_file(tmp_path):
    _, path = write_coco(tmp_path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"instances.json: not a COCO instances file \(the top level is a list"):
        load_coco(path, tmp_path / "images")
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00")
    with pytest.raises(ValueError, match=r"instances.json: not a text file"):
        load_coco(path, tmp_path / "images")


def test_a_coco_split_without_annotations_warns_and_cannot_train(tmp_path):
    yaml_path, path = write_coco(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"] = []
    path.write_text(json.dumps(data))
    with pytest.warns(LabelWarning, match="instances.json has no usable annotations; every image counts"):
        build_dataset(yaml_path, "val")
    yaml_path.write_text("train: {images: images, annotations: annotations/instances.json}\n")
    with pytest.raises(ValueError, match="instances.json has no usable annotations; training needs labels"):
        build_dataset(yaml_path, "train")


def _with_ids(path, ids):
    data = json.loads(path.read_text())
    for ann, i in zip(data["annotations"], ids):
        if i is None:
            del ann["id"]
        else:
            ann["id"] = i
    path.write_text(json.dumps(data))
    return data


def test_duplicate_annotation_ids_are_renumbered_with_a_warning_and_every_box_is_scored(tmp_path):
    from detector.engine.evaluate import coco_evaluate
    from detector.engine.validate import ground_truth

    yaml_path, path = write_coco(tmp_path)
    data = _with_ids(path, [5, 5, 5])  # every id the same: pycocotools would keep one box of three
    with pytest.warns(LabelWarning, match=r"instances.json: 2 annotation\(s\) share an 'id'.*renumbered all 3"):
        ds = build_dataset(yaml_path, "val", img_size=64)
    assert sum(len(r.labels) for r in ds.records) == 3
    gt = ground_truth(ds)
    assert sorted(a["id"] for a in gt["annotations"]) == [1, 2, 3]
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
               for a in data["annotations"]]
    assert coco_evaluate(gt, perfect, table=False)["AP50"] == pytest.approx(1.0)
    with pytest.warns(LabelWarning, match="share an 'id'"):  # the file given straight to the scorer
        assert coco_evaluate(str(path), perfect, table=False)["AP50"] == pytest.approx(1.0)


@pytest.mark.parametrize("ids,why", [([1, None, 3], "'id' must be an integer, it is missing"),
                                     ([1, "2", 3], "'id' must be an integer, got '2'"),
                                     ([1, 2.5, 3], "'id' must be an integer, got 2.5")])
def test_annotation_without_an_integer_id_is_one_line_naming_the_file(tmp_path, ids, why):
    yaml_path, path = write_coco(tmp_path)
    _with_ids(path, ids)
    with pytest.raises(ValueError) as e:
        build_dataset(yaml_path, "val", img_size=64)
    assert str(e.value) == f"{path}: annotations[1]: {why}"
