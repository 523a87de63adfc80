"""Dataset problems seen through ``cspdet val`` / ``cspdet train``: a COCO file missing a key is
one error line; an unreadable image is skipped by name, never scored as another; training
without any label stops at once, naming the folder."""
import json
import shutil

from tests.io.helpers import one_line_error, png_claiming, run_cli
from tests.data.helpers import write_rect_dataset, write_yaml
from tests.data.test_cocojson import write_coco

NANO = ["--weights", "csppeleenet-efm-nano", "--img-size", "64"]  # 4 classes, random weights


def four_class_coco(tmp_path):
    yaml_path, path = write_coco(tmp_path)
    data = json.loads(path.read_text())
    data["categories"].append({"id": 9, "name": "dog"})
    path.write_text(json.dumps(data))
    return yaml_path, path, data


def test_val_names_a_coco_image_without_width(tmp_path):
    yaml_path, path, data = four_class_coco(tmp_path)
    del data["images"][1]["width"]
    path.write_text(json.dumps(data))
    r = run_cli("val", *NANO, "--data", str(yaml_path), "--project", str(tmp_path / "runs"), cwd=tmp_path)
    one_line_error(r, "instances.json: images[1]: 'width' must be a positive number")


def test_val_skips_an_unreadable_image_by_name_and_scores_the_rest(tmp_path):
    yaml_path, _, data = four_class_coco(tmp_path)
    png_claiming(tmp_path / "images" / data["images"][0]["file_name"], 60000, 60000)
    r = run_cli("val", *NANO, "--data", str(yaml_path), "--project", str(tmp_path / "runs"), "--save-json",
                cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "000000000042.png: 60000x60000 image is over the cap" in r.stderr and "left out of the scores" in r.stderr
    preds = json.loads((tmp_path / "runs" / "exp" / "predictions.json").read_text())
    assert {p["image_id"] for p in preds} <= {7}


def test_train_without_any_label_is_one_line_naming_the_folder(tmp_path):
    write_rect_dataset(tmp_path, n=2)
    shutil.rmtree(tmp_path / "labels")
    r = run_cli("train", "--model", "csppeleenet-efm-nano", "--data", str(write_yaml(tmp_path, names=list("abcd"))),
                "--epochs", "1", "--img-size", "64", "--project", str(tmp_path / "runs"), cwd=tmp_path)
    one_line_error(r, f"no labels folder {tmp_path / 'labels' / 'train'}; training needs labels")
