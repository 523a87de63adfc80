"""Dataset YAML parsing: yolov5's layout, COCO splits, relative paths and one-line errors."""
import pytest

from detector.data import CocoSplit, load_data_config


def write(tmp_path, text, name="data.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_relative_paths_resolve_against_path_which_resolves_against_the_yaml_folder(tmp_path):
    (tmp_path / "cfg").mkdir()
    cfg = load_data_config(write(tmp_path / "cfg", "path: ../sets/a\ntrain: images/train\n"
                                 "val: [images/val, lists/extra.txt]\ntest: /abs/images\n"
                                 "names: [cat, dog]\ndownload: https://example.com/a.zip\n"))
    root = (tmp_path / "cfg" / ".." / "sets" / "a")
    assert cfg.root == root and cfg.names == ["cat", "dog"] and cfg.nc == 2
    assert cfg.train == [root / "images/train"]
    assert cfg.val == [root / "images/val", root / "lists/extra.txt"]
    assert cfg.test == [root.parent / "/abs/images"] and str(cfg.test[0]) == "/abs/images"


def test_without_path_the_yaml_folder_is_the_root_and_names_may_be_a_mapping(tmp_path):
    cfg = load_data_config(write(tmp_path, "train: train.txt\nnames: {0: a, 1: b, 2: c}\n"))
    assert cfg.root == tmp_path.resolve() and cfg.train == [tmp_path.resolve() / "train.txt"]
    assert cfg.names == ["a", "b", "c"] and cfg.val is None
    cfg = load_data_config(write(tmp_path, "train: x\nnc: 3\n"))
    assert cfg.names == ["class0", "class1", "class2"]


@pytest.mark.parametrize("text,match", [
    ("train: {images: a, annotations: b.json, labels: c}\n", r"data.yaml: unknown key 'train.labels'"),
    ("train: {images: a}\n", r"data.yaml: 'train' needs both .*annotations"),
    ("train: a\nnames: [x, y]\nnc: 3\n", r"data.yaml: nc=3 but 2 names"),
    ("train: a\nnames: {0: x, 2: y}\n", r"data.yaml: 'names' mapping keys"),
    ("train: a\n", r"data.yaml: YOLO-layout splits need 'names' or 'nc'"),
    ("names: [x]\n", r"data.yaml: defines none of"),
    ("train: 3\nnames: [x]\n", r"data.yaml: 'train' must be a path"),
    ("- a\n- b\n", r"data.yaml: a dataset YAML must be a mapping"),
    ("train: [a\n", r"data.yaml: not valid YAML"),
])
def test_bad_yaml_is_a_one_line_error_naming_the_file_and_key(tmp_path, text, match):
    with pytest.raises(ValueError, match=match) as e:
        load_data_config(write(tmp_path, text))
    assert "\n" not in str(e.value) and str(tmp_path) in str(e.value)


def test_a_roboflow_export_loads_and_other_keys_are_one_warning(tmp_path):
    """Roboflow writes data.yaml into the dataset folder with '../train/images' (yolov5's fallback
    strips the '../'), plus nc, test and a roboflow block; unknown keys warn once, by file and name."""
    import warnings

    for split in ("train", "valid"):
        (tmp_path / split / "images").mkdir(parents=True)
    text = ("train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: 2\nnames: ['a', 'b']\n"
            "roboflow:\n  workspace: w\n  project: p\n  version: 1\n  license: CC BY 4.0\n  url: https://x\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = load_data_config(write(tmp_path, text))
    root = tmp_path.resolve()
    assert cfg.train == [root / "train/images"] and cfg.val == [root / "valid/images"]
    assert cfg.test == [root / "../test/images"]  # neither exists: the path as written, for the error
    with pytest.warns(UserWarning) as record:
        cfg = load_data_config(write(tmp_path, "train: a\nnames: [x]\nepochs: 3\nlicense: MIT\n"))
    assert len(record) == 1 and cfg.names == ["x"]
    assert str(record[0].message).startswith(f"{tmp_path / 'data.yaml'}: ignoring unknown key(s) epochs, license")


def test_coco_split_and_missing_split_or_file(tmp_path):
    cfg = load_data_config(write(tmp_path, "path: coco\nval: {images: images/val2017, "
                                 "annotations: annotations/instances_val2017.json}\n"))
    root = tmp_path.resolve() / "coco"
    assert cfg.val == CocoSplit(root / "images/val2017", root / "annotations/instances_val2017.json")
    assert cfg.names is None and cfg.split("val") is cfg.val
    with pytest.raises(ValueError, match=r"data.yaml: no 'train' split"):
        cfg.split("train")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_data_config(tmp_path / "nope.yaml")


def test_yaml_tags_are_refused_by_the_safe_loader(tmp_path):
    with pytest.raises(ValueError, match="not valid YAML"):
        load_data_config(write(tmp_path, "train: !!python/object/apply:os.system ['true']\nnc: 1\n"))


def test_importing_the_class_names_stays_light():
    import subprocess
    import sys

    code = "import sys, detector.data.coco, detector.data.config; print(sorted({'torch', 'cv2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("text,match", [
    ("train: a\nnc: 1000000000\n", r"data.yaml: nc=1,000,000,000 exceeds the cap of 100,000"),
    ("a: &x [c0, c1]\ntrain: a\nnames: *x\n", r"data.yaml: not valid YAML \(line 3\): alias \*x"),
])
def test_class_counts_and_aliases_are_refused_before_anything_is_made(tmp_path, text, match):
    with pytest.raises(ValueError, match=match) as e:
        load_data_config(write(tmp_path, text))
    assert "\n" not in str(e.value)


def test_a_binary_dataset_yaml_or_image_list_is_not_a_text_file(tmp_path):
    from detector.data import build_dataset

    (tmp_path / "data.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ValueError, match=r"data.yaml: not a text file"):
        load_data_config(tmp_path / "data.yaml")
    (tmp_path / "list.txt").write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ValueError, match=r"list.txt: not a text file"):
        build_dataset(write(tmp_path, "train: list.txt\nnames: [a]\n"), "train")
