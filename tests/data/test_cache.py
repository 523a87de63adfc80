"""The JSON label cache: hit, invalidation, read-only fallback, and coco128 from shared."""
import json
import os
import stat

import numpy as np
import pytest

from detector.data import LabelWarning, build_dataset, load_data_config, yolo_records
from detector.data import datasets as datasets_module
from detector.data.cache import CACHE_VERSION

from .helpers import write_rect_dataset


def caches(folder):
    return sorted(folder.glob("*.cache.json"))


def no_scan(*args, **kwargs):
    raise AssertionError("labels were parsed again instead of read from the cache")


def test_second_load_reads_the_json_cache_and_warnings_still_show(tmp_path, monkeypatch):
    write_rect_dataset(tmp_path, n=4)
    (tmp_path / "labels" / "train" / "0002.txt").write_text("0 0.5 0.5 0.1 0.1\n99 0.5 0.5 0.1 0.1\n")
    with pytest.warns(LabelWarning, match="0002.txt:2: class id 99"):
        first = yolo_records([tmp_path / "images" / "train"], 12)
    (cache,) = caches(tmp_path / "labels")  # beside the labels folder (labels/train)
    assert cache.name.startswith("train.") and json.loads(cache.read_text())["hash"]
    monkeypatch.setattr(datasets_module, "scan_yolo", no_scan)
    with pytest.warns(LabelWarning, match="0002.txt:2: class id 99"):
        second = yolo_records([tmp_path / "images" / "train"], 12)
    assert [r.path for r in first] == [r.path for r in second]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.shape == b.shape and a.image_id == b.image_id


def test_a_changed_label_file_or_nc_invalidates_the_cache(tmp_path, monkeypatch):
    write_rect_dataset(tmp_path, n=3)
    source = [tmp_path / "images" / "train"]
    yolo_records(source, 12)
    label = tmp_path / "labels" / "train" / "0001.txt"
    label.write_text("5 0.5 0.5 0.25 0.25\n")
    os.utime(label, ns=(1, 1))  # a different mtime even on coarse-clock file systems
    records = yolo_records(source, 12)
    np.testing.assert_allclose(records[1].labels, [[5, 0.5, 0.5, 0.25, 0.25]])
    monkeypatch.setattr(datasets_module, "scan_yolo", no_scan)
    yolo_records(source, 12)  # unchanged again: a hit
    with pytest.raises(AssertionError, match="parsed again"):
        yolo_records(source, 6)  # class 5 is valid for nc=12 and 6, but the key changed


def test_corrupt_cache_is_rebuilt_and_cache_false_writes_nothing(tmp_path):
    write_rect_dataset(tmp_path, n=2)
    yolo_records([tmp_path / "images" / "train"], 12)
    (cache,) = caches(tmp_path / "labels")
    cache.write_text("{ not json")
    assert len(yolo_records([tmp_path / "images" / "train"], 12)) == 2
    assert json.loads(cache.read_text())["version"] == CACHE_VERSION
    cache.unlink()
    yolo_records([tmp_path / "images" / "train"], 12, cache=False)
    assert not caches(tmp_path / "labels")


def test_read_only_dataset_falls_back_to_the_cache_dir(tmp_path, _private_cache):
    data = tmp_path / "ro"
    write_rect_dataset(data, n=3)
    folders = [data, *(p for p in data.rglob("*") if p.is_dir())]
    mode = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for folder in folders:
        os.chmod(folder, mode)  # r-x, as the shared data is: even root must not leave files here
    try:
        yolo_records([data / "images" / "train"], 12)
        yolo_records([data / "images" / "train"], 12, cache_dir=tmp_path / "mine")
    finally:
        for folder in folders:
            os.chmod(folder, mode | stat.S_IWUSR)
    assert not list(data.rglob("*.cache.json"))
    assert len(caches(_private_cache)) == 1 and len(caches(tmp_path / "mine")) == 1


def test_coco128_from_the_read_only_shared_folder(read_only_coco128, tmp_path, _private_cache):
    coco128 = read_only_coco128
    yaml_path = tmp_path / "coco128.yaml"
    yaml_path.write_text(f"path: {coco128}\ntrain: images\nval: images\nnc: 80\n")
    before = sorted(str(p) for p in coco128.rglob("*"))
    ds = build_dataset(yaml_path, "val", img_size=256)
    assert sorted(str(p) for p in coco128.rglob("*")) == before and len(caches(_private_cache)) == 1
    assert len(ds) == 128 and ds.nc == 80 and ds.augment is False
    labels = np.concatenate(ds.labels)
    assert len(labels) > 900 and labels[:, 0].min() >= 0 and labels[:, 0].max() < 80
    assert (labels[:, 1:] >= 0).all() and (labels[:, 1:] <= 1).all()
    img, lab, meta = ds[0]
    assert img.shape == (3, 256, 256) and meta.image_id == 9 and meta.orig_shape == (480, 640)
    assert meta.letterbox is not None and meta.letterbox.pad == (0, 32)
    cfg = load_data_config(yaml_path)
    again = datasets_module.yolo_records(cfg.val, 80)
    assert [r.path for r in again] == [r.path for r in ds.records]


def test_an_edit_that_keeps_size_and_mtime_is_never_served_stale(tmp_path, monkeypatch):
    write_rect_dataset(tmp_path, n=3)
    source = [tmp_path / "images" / "train"]
    label = tmp_path / "labels" / "train" / "0001.txt"
    label.write_text("1 0.5 0.5 0.25 0.25\n")
    yolo_records(source, 12)
    st = label.stat()
    label.write_text("2 0.5 0.5 0.25 0.25\n")  # same size
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert label.stat().st_size == st.st_size and label.stat().st_mtime_ns == st.st_mtime_ns
    np.testing.assert_allclose(yolo_records(source, 12)[1].labels, [[2, 0.5, 0.5, 0.25, 0.25]])
    monkeypatch.setattr(datasets_module, "scan_yolo", no_scan)
    yolo_records(source, 12)  # unchanged bytes: a hit
