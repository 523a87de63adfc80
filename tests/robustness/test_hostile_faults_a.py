"""Hostile inputs of issue #24 that ended in a hang, a silent result or a vague error: each is now
a cap checked before the work, a one-line error naming the file and key, or a warning."""
import pytest

from detector.data.synthetic import MAX_OBJECTS, make_synthetic_dataset
from tests.robustness.helpers import assert_one_line_error, cspdet
from tests.robustness.test_full_disk import small_disk  # noqa: F401  (a fixture: a 2 MB tmpfs, 300 kB free)


def test_synth_objects_are_capped_before_any_image(tmp_path):
    r = cspdet("synth", tmp_path / "out", "--objects", "100000", "100000", timeout=120)
    assert_one_line_error(r, "--objects", f"must be between 0 and {MAX_OBJECTS}, got 100000", code=2)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=rf"objects \(1, {MAX_OBJECTS + 1}\): need 1 <= MIN <= MAX <= {MAX_OBJECTS}"):
        make_synthetic_dataset(tmp_path / "api", 1, 1, objects=(1, MAX_OBJECTS + 1))


@pytest.fixture(scope="module")
def shapes_onnx(tmp_path_factory):
    """The shipped model exported at 128 (static input), written once."""
    from detector.cli import main
    from detector.resources import default_weights_path

    out = tmp_path_factory.mktemp("onnx") / "shapes.onnx"
    assert main(["export", "--weights", str(default_weights_path()), "--img-size", "128", "-o", str(out)]) == 0
    return out


def edited(src, dst, **props):
    """A copy of the ONNX file ``src`` at ``dst`` with these metadata values (strings)."""
    import onnx

    proto = onnx.load(str(src))
    for p in proto.metadata_props:
        if p.key in props:
            p.value = props[p.key]
    onnx.save(proto, str(dst))
    return dst


METADATA_CASES = [
    (dict(names="[circle, square"), "metadata key 'names' is not valid JSON (Expecting value at character 1)"),
    (dict(names='["circle"]'), "metadata key 'names' holds 1 names for num_classes=4"),
    (dict(names=str([f"c{i}" for i in range(1000)]).replace("'", '"')), "metadata key 'names' holds 1000 names"),
    (dict(img_size="[416, 416]"), "metadata key 'img_size' says [416, 416], but the graph's input is 128x128"),
]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("props,words", METADATA_CASES, ids=["not-json", "1-name", "1000-names", "img-size"])
def test_onnx_metadata_that_does_not_fit_is_one_line_naming_the_key(shapes_onnx, tmp_path, props, words, backend):
    from detector import Detector

    path = edited(shapes_onnx, tmp_path / "bad.onnx", **props)
    with pytest.raises(ValueError) as e:
        Detector(str(path), backend=backend)
    assert str(e.value).startswith(f"{path}: ") and words in str(e.value) and "\n" not in str(e.value)


def test_a_checkpoint_on_a_full_disk_says_the_disk_is_full(small_disk):
    import torch

    from detector.models.checkpoint import atomic_save

    good = atomic_save({"w": torch.zeros(10)}, small_disk / "last.pt")
    before = good.read_bytes()
    with pytest.raises(OSError) as e:
        atomic_save({"w": torch.zeros(1_000_000)}, good)  # 4 MB into the 300 kB left
    text = str(e.value)
    assert text.startswith(f"{good}: could not write it: No space left on device") and "inline_container" not in text
    assert e.value.errno == 28 and good.read_bytes() == before  # the earlier checkpoint is whole
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "last.pt"]



def test_links_that_loop_or_dangle_are_counted_as_skipped(tmp_path, capsys):
    import shutil

    from detector.cli import main
    from detector.resources import demo_media_dir

    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(demo_media_dir() / "demo_000.jpg", src / name)
    (src / "loop.jpg").symlink_to("loop.jpg")
    (src / "gone.jpg").symlink_to("nowhere.jpg")
    assert main(["detect", "--source", str(src), "--project", str(tmp_path / "runs")]) == 0
    captured = capsys.readouterr()
    assert "Done: 2 items, " in captured.out and ", 2 skipped" in captured.out and "/4 " in captured.err
    assert f"skipped: {src / 'loop.jpg'}: a symbolic link that loops or points to nothing" in captured.err


def yolo_set(root, n=3):
    """root/images/train/{0..n-1}.png with one box each in root/labels/train, and data.yaml."""
    import cv2
    import numpy as np

    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for i in range(n):
        img = np.full((64, 64, 3), 90, np.uint8)
        cv2.rectangle(img, (10, 10), (40, 40), (20, 200, 240), -1)
        cv2.imwrite(str(root / "images" / "train" / f"{i}.png"), img)
        (root / "labels" / "train" / f"{i}.txt").write_text("0 0.39 0.39 0.48 0.48\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/train\nnames: [box]\n")
    return root / "data.yaml"


def test_training_data_problems_are_said_not_swallowed(tmp_path):
    from detector.data import LabelWarning, build_dataset

    data = yolo_set(tmp_path)
    labels = tmp_path / "labels" / "train"
    (labels / "0.txt").write_text("0 0.39 0.39 0.48 0.48\n" * 50)  # 50 copies of one box
    (labels / "orphan.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # its image was deleted
    (labels / "classes.txt").write_text("box\n")  # what labelling tools leave: not a label file
    (tmp_path / "images" / "train" / "3.png").symlink_to("deleted.png")
    with pytest.warns(LabelWarning) as record:
        ds = build_dataset(data, "train", img_size=64, cache=False)
    said = [str(w.message) for w in record]
    assert any(m == f"{labels / '0.txt'}: 49 duplicate label(s) removed" for m in said), said
    assert any("1 label file(s) have no image" in m and "orphan.txt" in m for m in said), said
    assert any(m.startswith(f"{tmp_path / 'images' / 'train' / '3.png'}: unreadable image, skipped (a symbolic link")
               for m in said), said
    assert [len(r.labels) for r in ds.records] == [1, 1, 1]


def test_int8_calibration_on_one_repeated_or_black_image_warns(tmp_path):
    import cv2
    import numpy as np

    from detector.export.quantize import LetterboxCalibration

    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    same = [tmp_path / f"same{i}.png" for i in range(5)]
    black = [tmp_path / f"black{i}.png" for i in range(2)]
    for p in same:
        cv2.imwrite(str(p), img)
    for p in black:
        cv2.imwrite(str(p), np.zeros((64, 64, 3), np.uint8))

    def drain(paths):
        reader = LetterboxCalibration(paths, (64, 64), "images")
        with pytest.warns(UserWarning) as record:
            while reader.get_next() is not None:
                pass
        reader.rewind()
        while reader.get_next() is not None:  # a second pass says nothing again
            pass
        return [str(w.message) for w in record]

    said = drain(same)
    assert len(said) == 1 and "calibrating on 5 image(s)" in said[0] and "only 1 distinct" in said[0]
    said = drain(same[:1] + black)
    assert any("2 of the 3 calibration image(s)" in m and "one flat colour (all black?)" in m for m in said), said
