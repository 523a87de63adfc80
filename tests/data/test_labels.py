"""YOLO label files: layout, validation warnings (file and line), dropped labels, bad images."""
import warnings
from pathlib import Path

import numpy as np
import pytest

from detector.data import LabelWarning, build_dataset, img2label_path, yolo_records
from detector.data.labels import dataset_images, parse_label_text

from .helpers import write_rect_dataset, write_yaml


def test_label_path_swaps_the_last_images_folder_and_the_suffix():
    assert img2label_path("/d/images/train/a.jpg") == Path("/d/labels/train/a.txt")
    assert img2label_path("/images/d/images/a.b.PNG") == Path("/images/d/labels/a.b.txt")
    assert img2label_path("/d/pics/a.jpg") == Path("/d/pics/a.txt")


def test_image_lists_from_folders_txt_files_and_single_files(tmp_path):
    paths = write_rect_dataset(tmp_path, n=3)
    (tmp_path / "images" / "train" / "sub").mkdir()
    (tmp_path / "images" / "train" / "notes.md").write_text("not an image")
    nested = tmp_path / "images" / "train" / "sub" / "x.png"
    nested.write_bytes(paths[0].read_bytes())
    (tmp_path / "list.txt").write_text("images/train/0001.png\n\n" + str(paths[2]) + "\n")
    assert dataset_images([tmp_path / "images"]) == sorted(str(p) for p in [*paths, nested])
    assert dataset_images([tmp_path / "list.txt", paths[0], paths[0]]) == sorted(str(p) for p in paths)
    with pytest.raises(FileNotFoundError, match=r"train: image source '.*nope' not found"):
        dataset_images([tmp_path / "nope"], "train")


BAD_LINES = [
    ("0 0.5 0.5 0.2", "expected 5 fields"),
    ("0 0.5 0.5 0.2 0.2 0.9", "expected 5 fields"),
    ("zero 0.5 0.5 0.2 0.2", "non-numeric"),
    ("0 0.5 nan 0.2 0.2", "non-finite"),
    ("3 0.5 0.5 0.2 0.2", r"class id 3 out of range \[0, 3\)"),
    ("-1 0.5 0.5 0.2 0.2", "class id -1 out of range"),
    ("1.5 0.5 0.5 0.2 0.2", "class id 1.5 is not an integer"),
    ("0 0.5 0.5 0 0.2", "non-positive box size"),
    ("0 0.5 0.5 0.2 -0.1", "non-positive box size"),
    ("0 0.95 0.5 0.2 0.2", "outside the image"),
    ("0 0.5 -0.01 0.2 0.2", "outside the image"),
    ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4", "expected 5 fields .* or a polygon"),
    ("0 1.2 0.1 1.5 0.2 1.3 0.4", "polygon of 3 points has no area inside the image"),
    ("0 0.1 0.5 0.3 0.5 0.2 0.5", "polygon of 3 points has no area"),
    ("5 0.1 0.1 0.3 0.1 0.2 0.4", "class id 5 out of range"),
]


@pytest.mark.parametrize("line,why", BAD_LINES)
def test_each_kind_of_bad_line_is_dropped_with_its_file_and_line_named(line, why):
    text = "1 0.5 0.5 0.4 0.4\n\n" + line + "\n2.0 0.25 0.25 0.1 0.1\n"
    labels, problems = parse_label_text(text, nc=3, name="a.txt")
    np.testing.assert_array_equal(labels, np.float32([[1, 0.5, 0.5, 0.4, 0.4], [2, 0.25, 0.25, 0.1, 0.1]]))
    assert len(problems) == 1 and problems[0].startswith("a.txt:3: ") and problems[0].endswith("label dropped")
    assert __import__("re").search(why, problems[0])


def test_overshoot_within_tolerance_is_kept_and_clipped():
    labels, problems = parse_label_text("0 0.1 0.5 0.2004 0.2\n0 1.0 1.0 0.0008 0.0008\n", 1, "a.txt")
    assert not problems and labels.shape == (2, 5)
    x1 = labels[:, 1] - labels[:, 3] / 2
    x2 = labels[:, 1] + labels[:, 3] / 2
    assert (x1 >= 0).all() and (x2 <= 1).all()
    np.testing.assert_allclose(x2[0], 0.2002, atol=1e-6)  # the right edge did not move


def test_polygon_lines_become_their_bounding_boxes_clipped_to_the_image(tmp_path):
    text = "1 0.1 0.2 0.5 0.1 0.3 0.6\n0 -0.1 0.2 0.4 0.2 0.4 1.3 0.2 0.5\n2 0.5 0.5 0.2 0.2\n"
    labels, problems = parse_label_text(text, nc=3, name="a.txt")
    assert not problems
    np.testing.assert_allclose(labels, [[1, 0.3, 0.35, 0.4, 0.5], [0, 0.2, 0.6, 0.4, 0.8], [2, 0.5, 0.5, 0.2, 0.2]],
                               atol=1e-6)
    # through the dataset and its cache: a segment-format label file trains as boxes
    write_rect_dataset(tmp_path, n=1)
    (tmp_path / "labels" / "train" / "0000.txt").write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = build_dataset(write_yaml(tmp_path, names=["a", "b", "c"]), "train", img_size=64)
    np.testing.assert_allclose(ds.records[0].labels, labels)


def test_dataset_warns_per_bad_line_keeps_the_image_and_its_good_labels(tmp_path):
    paths = write_rect_dataset(tmp_path, n=3)
    label = tmp_path / "labels" / "train" / "0001.txt"
    good = label.read_text().splitlines()
    label.write_text("\n".join([good[0], "7 0.5 0.5 0.1 0.1", "0 0.5 0.5 0.1", *good[1:]]) + "\n")
    with pytest.warns(LabelWarning) as record:
        ds = build_dataset(write_yaml(tmp_path, names=["a", "b", "c", "d"]), "train", img_size=64)
    messages = [str(w.message) for w in record]
    assert any(m.startswith(f"{label}:2: class id 7 out of range") for m in messages)
    assert any(m.startswith(f"{label}:3: expected 5 fields") for m in messages)
    assert len(ds) == len(paths)
    kept = ds.records[1].labels
    assert len(kept) == len(good) and kept[0, 0] == 0


def test_corrupt_and_empty_images_are_reported_by_name_and_skipped(tmp_path):
    paths = write_rect_dataset(tmp_path, n=4)
    paths[1].write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    paths[2].write_bytes(b"")
    with pytest.warns(LabelWarning) as record:
        records = yolo_records([tmp_path / "images" / "train"], 12)
    bad = [str(w.message) for w in record]
    assert f"{paths[1]}: unreadable image, skipped (cannot decode image (corrupt or unsupported format))" in bad
    assert f"{paths[2]}: unreadable image, skipped (empty file, not an image)" in bad
    assert [r.path for r in records] == [str(paths[0]), str(paths[3])]
    assert records[0].shape == (96, 128) and records[0].image_id == 0


def test_a_missing_label_file_is_an_image_without_objects(tmp_path):
    write_rect_dataset(tmp_path, n=2)
    (tmp_path / "labels" / "train" / "0000.txt").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and it is no problem worth a warning
        records = yolo_records([tmp_path / "images" / "train"], 12)
    assert records[0].labels.shape == (0, 5) and len(records[1].labels)


def test_a_decompression_bomb_in_a_dataset_is_reported_by_name_and_skipped(tmp_path):
    from ..io.helpers import png_claiming

    paths = write_rect_dataset(tmp_path, n=3)
    png_claiming(paths[1], 60000, 60000)
    with pytest.warns(LabelWarning) as record:
        records = yolo_records([tmp_path / "images" / "train"], 12)
    assert any(str(w.message).startswith(f"{paths[1]}: unreadable image, skipped (60000x60000 image is over the cap")
               for w in record)
    assert [r.path for r in records] == [str(paths[0]), str(paths[2])]


def test_a_split_without_a_labels_folder_warns_and_cannot_train(tmp_path):
    import shutil

    write_rect_dataset(tmp_path, n=2)
    shutil.rmtree(tmp_path / "labels")
    yaml_path = write_yaml(tmp_path)
    with pytest.warns(LabelWarning, match=f"data.yaml 'val': no labels folder {tmp_path / 'labels' / 'train'}; "
                                          "every image counts as background"):
        assert len(build_dataset(yaml_path, "val")) == 2
    with pytest.raises(ValueError, match=f"data.yaml 'train': no labels folder {tmp_path / 'labels' / 'train'}; "
                                         "training needs labels"):
        build_dataset(yaml_path, "train")


def test_a_split_whose_label_files_are_all_empty_warns_and_cannot_train(tmp_path):
    write_rect_dataset(tmp_path, n=3)
    for label in (tmp_path / "labels" / "train").glob("*.txt"):
        label.write_text("")
    yaml_path = write_yaml(tmp_path)
    with pytest.warns(LabelWarning, match=r"none of the 3 images has a label in .*labels/train \(label files missing"):
        build_dataset(yaml_path, "val")
    with pytest.raises(ValueError, match="training needs labels"):
        build_dataset(yaml_path, "train")
