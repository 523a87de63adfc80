"""The Python API refuses what the CLI refuses, in the same words: one ``detector.checks`` rule
per argument, a ValueError for a bad value and a TypeError for a bad type, each naming it."""
import math

import numpy as np
import pytest

from detector import Detector
from detector.checks import IMG_SIZE, PROBABILITY, class_ids
from detector.cli import main
from detector.resources import default_weights_path
from detector.runtime.tracking import ByteTracker

W = str(default_weights_path())
IMG = np.zeros((64, 64, 3), np.uint8)

# (Detector keyword, bad value, detect flag, the same value as typed)
SAME_WORDS = [("conf_thres", 2, "--conf-thres", "2"), ("conf_thres", math.nan, "--conf-thres", "nan"),
              ("iou_thres", -0.1, "--iou-thres", "-0.1"), ("iou_thres", math.inf, "--iou-thres", "inf"),
              ("max_det", -1, "--max-det", "-1"), ("max_det", 0, "--max-det", "0"),
              ("img_size", 0, "--img-size", "0"), ("img_size", -64, "--img-size", "-64"),
              ("img_size", 9000, "--img-size", "9000"), ("threads", 0, "--threads", "0")]


@pytest.mark.parametrize("kw,value,flag,typed", SAME_WORDS, ids=[f"{k}={v}" for k, v, _, _ in SAME_WORDS])
def test_api_and_cli_refuse_the_same_values_in_the_same_words(kw, value, flag, typed, capsys, tmp_path):
    with pytest.raises(ValueError) as e:
        Detector(W, **{kw: value})
    api = str(e.value)
    assert api.startswith(f"{kw}: ") and "\n" not in api
    assert main(["detect", "--weights", W, "--source", str(tmp_path), flag, typed]) == 2
    cli = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {flag}" in cli and f": {api[len(kw) + 2:]} (see" in cli, (cli, api)


@pytest.mark.parametrize("kwargs,error,words", [
    (dict(conf_thres="0.5"), TypeError, "conf_thres: must be a number, got '0.5' (str)"),
    (dict(conf_thres=True), TypeError, "conf_thres: must be a number, got True (bool)"),
    (dict(max_det=2.5), TypeError, "max_det: must be an integer, got 2.5 (float)"),
    (dict(img_size="416"), TypeError, "img_size: must be an integer"),
    (dict(agnostic="no"), TypeError, "agnostic: must be True or False, got 'no'"),
    (dict(classes=[99]), ValueError, "classes: class 99 is out of range: this model has 4 classes (0 circle"),
    (dict(classes=["dog"]), ValueError, "classes: 'dog' is not a class of this model (0 circle, 1 square"),
    (dict(classes=[0.5]), TypeError, "classes: each class must be an index or a name, got 0.5"),
    (dict(classes=[]), ValueError, "classes: empty"),
    (dict(classes={"a": 1}), TypeError, "classes: expected class indices or names"),
])
def test_detector_keywords_are_checked_before_any_image(kwargs, error, words):
    with pytest.raises(error) as e:
        Detector(W, **kwargs)
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("weights", [5, ["a.pt"], ""])  # None is the default: the bundled model
def test_weights_must_be_a_path_or_a_name(weights):
    with pytest.raises(TypeError, match=r"^weights: expected a model file path or name \(str or Path\), got "):
        Detector(weights)


def test_classes_take_indices_or_names_and_filter_the_boxes():
    names = ["circle", "square", "triangle", "cross"]
    assert class_ids(["cross", 0, "1", np.int64(2)], names) == [0, 1, 2, 3]
    assert class_ids("square", names) == [1] and class_ids(3, names) == [3] and class_ids(None, names) is None
    det = Detector(W, classes=["square"], img_size=256)
    assert det.nms["classes"] == [1]


@pytest.fixture(scope="module")
def det():
    return Detector(W, img_size=64)


def gen():
    yield IMG


@pytest.mark.parametrize("source,where,words", [
    (5, "source", "got 5 (int)"), (None, "source", "got None (NoneType)"),
    ([[IMG]], "source[0]", "got a list (a list of images holds arrays or paths, not lists)"),
    ([IMG, None], "source[1]", "got None"), (gen(), "source", "got a generator (pass a list"),
    (b"x.jpg", "source", "(bytes)")])
def test_call_names_the_item_that_is_not_an_image(det, source, where, words):
    with pytest.raises(TypeError) as e:
        det(source)
    assert str(e.value).startswith(f"{where}: expected a BGR uint8 array (HxWx3) or an image path, ")
    assert words in str(e.value)


@pytest.mark.parametrize("frames,kwargs,error,words", [
    (None, {}, TypeError, "frames: expected a source"), (3.5, {}, TypeError, "frames: expected a source"),
    (IMG, {}, TypeError, "frames: expected a source"), (-1, {}, ValueError, "frames: must be at least 0, got -1"),
    ([IMG], dict(trail=-1), ValueError, "trail: must be at least 0, got -1"),
    ([IMG], dict(new_thresh=2), ValueError, "new_thresh: must be >= 0.0 and <= 1.0, got 2.0"),
    ([IMG], dict(match_thresh=math.nan), ValueError, "match_thresh: nan is not a finite number"),
    ([IMG], dict(track_buffer=1.5), TypeError, "track_buffer: must be an integer")])
def test_track_checks_its_arguments_before_the_first_frame(det, frames, kwargs, error, words):
    with pytest.raises(error, match=None) as e:
        det.track(frames, **kwargs)  # raises here, not at the first next()
    assert words in str(e.value)


def test_track_names_the_frame_that_is_not_an_image(det):
    it = det.track([IMG, [IMG]])
    assert len(next(it)) == 0
    with pytest.raises(TypeError, match=r"^frames\[1\]: expected a BGR uint8 array"):
        next(it)


def test_classes_out_of_range_on_the_cli_is_one_line(capsys, tmp_path):
    assert main(["detect", "--weights", W, "--project", str(tmp_path), "--classes", "999"]) == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("auto: ")]
    assert len(err) == 1 and "classes: class 999 is out of range: this model has 4 classes" in err[0]
    assert not any(tmp_path.rglob("*.jpg"))


def test_the_rules_are_the_ones_the_flags_use():
    from detector.cli import argtypes

    for rule, parse in ((PROBABILITY, argtypes.probability), (IMG_SIZE, argtypes.img_size)):
        for text in ("0.5", "32", "1", "100"):
            try:
                expected = rule(rule.kind(float(text)), "x")
            except ValueError:
                with pytest.raises(Exception):
                    parse(text)
                continue
            assert parse(text) == expected
    assert ByteTracker(high_thresh=np.float32(0.5)).high == 0.5
