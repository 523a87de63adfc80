import json

import cv2

from detector.cli import main
from detector.data.coco import COCO80_TO_91


def test_detect_folder_writes_everything_and_summarises(model_files, image_dir, tmp_path, capsys):
    pt, _ = model_files
    argv = ["detect", "--weights", str(pt), "--source", str(image_dir), "--img-size", "160",
            "--conf-thres", "0.05", "--project", str(tmp_path / "runs"), "--save-txt", "--save-conf", "--save-json"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "3 items" in out.out and "1 skipped" in out.out and "fps" in out.out
    assert "broken.jpg: cannot decode image" in out.err
    run = tmp_path / "runs" / "exp"
    assert sorted(p.name for p in run.glob("*.jpg")) == ["000.jpg", "001.jpg", "002.jpg"]
    assert len(list((run / "labels").glob("*.txt"))) == 3
    preds = json.loads((run / "predictions.json").read_text())
    assert all({"image_id", "category_id", "bbox", "score"} <= set(p) for p in preds)
    # numeric stems are the image ids; COCO's names give COCO's category ids (1..90)
    assert preds and {p["image_id"] for p in preds} <= {0, 1, 2} and not (run / "image_ids.json").exists()
    assert {p["category_id"] for p in preds} <= set(COCO80_TO_91) and max(p["category_id"] for p in preds) > 1
    assert main(argv) == 0 and (tmp_path / "runs" / "exp2").is_dir()  # never overwrites
    assert len(list(run.glob("*.jpg"))) == 3


def test_detect_video_onnx_and_nosave(model_files, video_file, tmp_path, capsys):
    _, onnx_path = model_files
    argv = ["detect", "--weights", str(onnx_path), "--source", str(video_file), "--project", str(tmp_path / "r")]
    assert main(argv) == 0
    cap = cv2.VideoCapture(str(tmp_path / "r" / "exp" / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    assert "7 items" in capsys.readouterr().out
    assert main(argv + ["--nosave", "--vid-stride", "2"]) == 0
    assert "4 items" in capsys.readouterr().out and not (tmp_path / "r" / "exp2").exists()


def test_detect_bad_source_is_one_line(model_files, tmp_path, capsys):
    assert main(["detect", "--weights", str(model_files[0]), "--source", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no such file or folder" in err and "\n" not in err


def test_detect_video_with_two_streams_matches_one(model_files, video_file, tmp_path, capsys):
    _, onnx_path = model_files
    argv = ["detect", "--weights", str(onnx_path), "--source", str(video_file), "--project", str(tmp_path / "r"),
            "--conf-thres", "0.05", "--save-txt", "--save-conf", "--nosave", "--save-json"]
    assert main(argv) == 0 and main(argv + ["--streams", "2"]) == 0
    assert "7 items" in capsys.readouterr().out
    one, two = (sorted((tmp_path / "r" / name / "labels").glob("*.txt")) for name in ("exp", "exp2"))
    assert len(one) == 7 and [p.name for p in one] == [p.name for p in two]
    assert [p.read_text() for p in one] == [p.read_text() for p in two]
    # frames get int ids in frame order, however the streams finished; image_ids.json names them
    preds, files = ([json.loads((tmp_path / "r" / name / f).read_text()) for name in ("exp", "exp2")]
                    for f in ("predictions.json", "image_ids.json"))
    assert preds[0] == preds[1] and {type(p["image_id"]) for p in preds[0]} == {int}
    assert files[0] == files[1] == [{"id": i, "file_name": "clip.avi", "frame": i} for i in range(7)]
    assert main(argv + ["--streams", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "argument --streams: must be at least 1, got 0" in err and "\n" not in err
    assert main(argv + ["--streams", "2", "--backend", "opencv", "--name", "cv"]) == 2
    err = capsys.readouterr().err.strip()
    assert "parallel streams need CPU inference on onnxruntime, openvino or torch (here opencv on cpu)" in err
    assert "\n" not in err and not (tmp_path / "r" / "cv").exists()
