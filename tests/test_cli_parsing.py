"""The command line as yolov5 and ultralytics users type at it: ``key=value`` arguments, errors
that name the subcommand and point to its help, 'did you mean', one-line warnings."""
import pytest

from detector.cli import build_parser, main
from detector.cli.parsing import expand_key_values

PARSER = build_parser()


@pytest.mark.parametrize("argv, expected", [
    (["detect", "source=a.jpg", "conf=0.3", "imgsz=320", "model=m.onnx"],
     ["detect", "--source", "a.jpg", "--conf-thres", "0.3", "--img-size", "320", "--weights", "m.onnx"]),
    (["predict", "save_txt=True", "show=False", "save=False", "classes=0,2"],
     ["predict", "--save-txt", "--nosave", "--classes", "0", "2"]),
    (["detect", "--source", "a=b.jpg", "iou=0.5"], ["detect", "--source", "a=b.jpg", "--iou-thres", "0.5"]),
    (["detect", "--classes", "0", "2", "conf=0.3"], ["detect", "--classes", "0", "2", "--conf-thres", "0.3"]),
    (["train", "batch=8", "epochs=3", "plots=False", "cache=disk"],
     ["train", "--batch-size", "8", "--epochs", "3", "--noplots", "--cache", "disk"]),
    (["export", "batch=2", "format=openvino", "include=[onnx,engine]"],
     ["export", "--batch", "2", "--format", "openvino", "--format", "onnx", "engine"]),
])
def test_key_value_arguments_become_the_matching_flags(argv, expected):
    assert expand_key_values(PARSER, argv) == expected


def test_key_values_parse_to_the_same_namespace_as_flags():
    a = PARSER.parse_args(expand_key_values(PARSER, ["detect", "source=x.mp4", "conf=0.4", "classes=circle,1"]))
    b = PARSER.parse_args(["detect", "--source", "x.mp4", "--conf-thres", "0.4", "--classes", "circle", "1"])
    assert vars(a) == vars(b)


@pytest.mark.parametrize("argv, expected", [
    (["detcet"], ["cspdet: error: argument COMMAND: invalid choice: 'detcet'", "did you mean detect?",
                  "(see cspdet --help)"]),
    (["detect", "--img-szie", "100"], ["cspdet detect: error: unrecognized arguments: --img-szie 100",
                                      "(did you mean --img-size?)", "(see cspdet detect --help)"]),
    (["val", "--data", "d.yaml", "--backend", "onnxrt"], ["cspdet val: error:", "did you mean onnxruntime?",
                                                          "(see cspdet val --help)"]),
    (["detect", "cnf=0.3"], ["cspdet detect: error: unknown argument 'cnf=0.3'; did you mean conf= (--conf-thres)?"]),
    (["detect", "show=maybe"], ["cspdet detect: error: show=maybe: show is a switch, give show=True or show=False"]),
    (["predict", "--wat"], ["cspdet detect: error: unrecognized arguments: --wat", "(see cspdet detect --help)"]),
])
def test_usage_errors_name_the_subcommand_and_suggest(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    for part in expected:
        assert part in err, err


def test_a_flag_that_is_far_from_every_other_gets_no_guess(capsys):
    assert main(["train", "--zzz"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_warnings_are_one_line_without_file_and_line(tmp_path, capsys):
    img = tmp_path / "x.jpg"
    import cv2
    import numpy as np

    cv2.imwrite(str(img), np.full((64, 64, 3), 90, np.uint8))
    assert main(["detect", "--source", str(img), "--img-size", "100", "--nosave"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert err == ["cspdet detect: warning: --img-size 100 is not a multiple of the stride 32; using 128"], err


def test_a_missing_weights_file_is_one_line_naming_it(tmp_path, shared, capsys):
    cfg = shared / "darknet" / "yolov4-tiny.cfg"
    assert main(["detect", "--weights", str(tmp_path / "gone.weights"), "--cfg", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"cspdet detect: error: --weights {tmp_path / 'gone.weights'}: no such Darknet .weights file"


def test_a_misspelt_model_name_suggests_the_zoo_name_and_lists_the_zoo(capsys):
    assert main(["detect", "--weights", "yolov4-tiy", "--nosave"]) == 2
    err = capsys.readouterr().err.strip()
    assert "(did you mean yolov4-tiny?)" in err and "yolov3-tiny-prn" in err and "csppeleenet-efm" in err, err
