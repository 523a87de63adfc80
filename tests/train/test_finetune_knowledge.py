"""Fine-tuning keeps what a model knows: head rows follow the class names, --freeze-bn keeps the
BatchNorm statistics, and continued training of a converged model does not cost it AP."""
import shutil

import pytest
import torch
import yaml

from detector.darknet.detector import DarknetDetector
from detector.data import build_dataset, create_dataloader, load_data_config, make_synthetic_dataset
from detector.data.coco import COCO_NAMES, COCO_OFFICIAL_NAMES
from detector.engine.finetune import class_sources, initial_model, with_classes
from detector.engine.train import Trainer
from detector.engine.validate import evaluate_model
from detector.geometry.decode import YOLODecoder
from detector.models.loading import load_detector
from detector.resources import default_weights_path

from .conftest import tiny_cfg
from .test_finetune import darknet80, one_step  # noqa: F401 (a fixture)

SHAPES = ["circle", "square", "triangle", "cross"]  # the shipped model's classes, in its order


@pytest.fixture
def shipped():
    pt = default_weights_path()
    if not pt.is_file():
        pytest.skip(f"{pt} not shipped in this checkout")
    return pt


def test_class_names_match_across_case_spacing_and_the_coco_and_darknet_spellings():
    data = ["Motorcycle", "airplane", "couch", "TV", "dining table", "Potted_Plant", "hair dryer", "person",
            "cell-phone", "unicorn"]
    expected = [COCO_NAMES.index(n) for n in ("motorbike", "aeroplane", "sofa", "tvmonitor", "diningtable",
                                              "pottedplant", "hair drier", "person", "cell phone")] + [None]
    assert class_sources(list(COCO_NAMES), data) == expected
    darknet = ["motorbike", "aeroplane", "sofa", "tvmonitor", "diningtable", "pottedplant", "hair drier"]
    assert class_sources(list(COCO_OFFICIAL_NAMES), darknet) == [COCO_OFFICIAL_NAMES.index(n) for n in (
        "motorcycle", "airplane", "couch", "tv", "dining table", "potted plant", "hair drier")]
    assert class_sources(["class0", "class1"], ["cat", "dog"]) == [0, 1]  # unnamed: by position
    assert class_sources(["class0", "class1"], ["cat", "dog", "cow"]) == [None, None, None]


def decoded(model, x):
    with torch.no_grad():
        return YOLODecoder.from_model(model)(model.eval()(x))


def test_darknet_head_rows_follow_the_names_on_the_yolov4_tiny_layout(shared):
    """yolov4-tiny.cfg with seeded random weights, re-headed for four classes, three of them
    COCO's in other spellings and order: every box, objectness and known class output is the
    original's, the new class starts at the prior, and nothing outside the head moved."""
    torch.manual_seed(0)
    source = DarknetDetector((shared / "darknet" / "yolov4-tiny.cfg").read_text(), "yolov4-tiny.cfg")
    names = ["Dog", "unicorn", "person", "motorcycle"]
    model, loaded, rebuilt, line = with_classes(source, names)
    assert line == "head: kept 3 of 4 classes from the model (Dog, person, motorcycle), 1 new (unicorn)"
    assert "classes=4" in model.cfg_text and set(rebuilt) == {f"blocks.{i}.0.{p}" for i in (29, 36)
                                                             for p in ("weight", "bias")}
    old_state = source.state_dict()
    assert all(torch.equal(v, old_state[k]) for k, v in model.state_dict().items() if k in loaded)

    x = torch.rand(1, 3, 160, 160)
    new, old = decoded(model, x), decoded(source, x)  # [1, N, 5 + nc]: box, obj, class probabilities
    torch.testing.assert_close(new[..., :5], old[..., :5], rtol=1e-5, atol=1e-6)  # another conv width: rounding only
    for j, k in ((0, 16), (2, 0), (3, 3)):
        torch.testing.assert_close(new[..., 5 + j], old[..., 5 + k], rtol=1e-5, atol=1e-6)
    assert new[..., 6].std() < 0.05 * old[..., 5:].std()  # the new class: the prior, nearly flat


def shapes_pair(root, classes, names, n_val=24):
    """Validation images holding only ``classes``, labelled twice: with ``names`` (the data a
    fine-tune sees) and with the shipped model's four classes (the original's own labels)."""
    data = make_synthetic_dataset(root / "sub", 0, n_val, img_size=(128, 128), seed=5, classes=classes,
                                  objects=(2, 5), sizes=(22, 100))
    data.write_text(yaml.safe_dump(dict(yaml.safe_load(data.read_text()), names=names)))
    full = root / "full"
    shutil.copytree(root / "sub", full)
    for f in (full / "labels" / "val").glob("*.txt"):
        rows = [line.split() for line in f.read_text().splitlines()]
        f.write_text("".join(f"{SHAPES.index(classes[int(r[0])])} {' '.join(r[1:])}\n" for r in rows))
    (full / "data.yaml").write_text(yaml.safe_dump(dict(yaml.safe_load(data.read_text()), names=SHAPES)))
    return data, full / "data.yaml"


def val_metrics(model, data):
    ds = build_dataset(load_data_config(str(data)), "val", img_size=128, augment=False)
    return evaluate_model(model, create_dataloader(ds, 8, shuffle=False, workers=0))


def test_a_subset_fine_tuned_for_zero_epochs_scores_what_the_shipped_model_scores(shipped, tmp_path, one_thread):
    classes, names = ("triangle", "circle"), ["Triangle", "circle"]
    data, full = shapes_pair(tmp_path, classes, names)
    model, report = initial_model(str(shipped), "", names)
    assert report.splitlines()[1] == "head: kept 2 of 2 classes from the model (Triangle, circle), 0 new"
    original = load_detector(shipped)
    x = torch.rand(2, 3, 128, 128)
    new, old = decoded(model, x), decoded(original, x)
    torch.testing.assert_close(new[..., :5], old[..., :5], rtol=1e-5, atol=1e-6)  # another conv width: rounding only
    known = old[..., [5 + SHAPES.index(c) for c in classes]]
    torch.testing.assert_close(new[..., 5:], known, rtol=1e-5, atol=1e-6)

    ours, theirs = val_metrics(model, data), val_metrics(original, full)
    print(f"AP / AP50 on {classes}: shipped model {theirs['AP']:.4f} / {theirs['AP50']:.4f}, "
          f"re-headed {ours['AP']:.4f} / {ours['AP50']:.4f}")
    assert theirs["AP50"] > 0.7  # the original knows these shapes; a fresh head would score near 0
    # Not lower; it may be a little higher, since square and cross no longer compete for the boxes.
    assert ours["AP"] >= theirs["AP"] - 0.005 and ours["AP50"] >= theirs["AP50"] - 0.005


def test_a_training_run_says_which_classes_the_head_kept(darknet80, tmp_path, capsys):
    cfg, weights, _ = darknet80
    data = make_synthetic_dataset(tmp_path / "coco3", 4, 2, img_size=(64, 64), seed=1,
                                  classes=("circle", "square", "triangle"))
    data.write_text(yaml.safe_dump(dict(yaml.safe_load(data.read_text()), names=["person", "Car", "star"])))
    t = Trainer(tiny_cfg(data, tmp_path, model="", weights=str(weights), cfg=str(cfg), img_size=96, epochs=1))
    out = capsys.readouterr().out
    assert "head: kept 2 of 3 classes from the model (person, Car), 1 new (star)" in out
    assert t.model.names == ["person", "Car", "star"] and t.model.num_classes == 3
    assert t.cfg.iou_thresh == 0.213  # a new class to learn: extra anchors give it more positives

    data.write_text(yaml.safe_dump(dict(yaml.safe_load(data.read_text()), names=["person", "Car", "dog"])))
    t = Trainer(tiny_cfg(data, tmp_path, model="", weights=str(weights), cfg=str(cfg), img_size=96, epochs=1))
    assert t.cfg.iou_thresh == 1.0  # classes it knows: the cfg's own assignment (no iou_thresh: best anchor only)


def test_freeze_bn_keeps_running_statistics_while_the_weights_train(shipped, tiny_data, tmp_path, capsys):
    stats = ("running_mean", "running_var", "num_batches_tracked")
    for frozen in (True, False):
        t = Trainer(tiny_cfg(tiny_data, tmp_path / str(frozen), model="", weights=str(shipped), epochs=1,
                             warmup_epochs=0, ema=False, freeze_bn=frozen))
        before, after = one_step(t)
        bn = [k for k in before if k.endswith(stats)]
        weights = [k for k in before if k.endswith(".weight")]
        assert bn and weights
        assert sum(not torch.equal(before[k], after[k]) for k in weights) > 0.9 * len(weights)
        moved = [k for k in bn if not torch.equal(before[k], after[k])]
        assert (moved == []) if frozen else (len(moved) == len(bn)), moved[:3]
    assert "--freeze-bn: " in capsys.readouterr().out


def test_continued_training_of_the_converged_shipped_model_keeps_its_ap(shipped, tmp_path, one_thread):
    """2 epochs at lr0 0.001 on the shipped model's own data (the first 64 training and 64
    validation images of its recipe; 8 steps of 16) cost it no more than 0.005 AP. Measured when
    chosen: +0.004 / +0.008 (seeds 0 / 1); before loaded biases stopped warming up from
    warmup_bias_lr 0.1 (100x lr0), -0.004 / -0.007. Seed 1 is the one that old warm-up fails."""
    from detector.data.synthetic_defaults import RECIPE
    from detector.engine.train import TrainConfig

    data = make_synthetic_dataset(tmp_path / "own", 64, 64, img_size=RECIPE["img_size"] * 2, seed=RECIPE["seed"],
                                  objects=RECIPE["objects"], sizes=RECIPE["sizes"])
    size = RECIPE["img_size"][0]
    ds = build_dataset(load_data_config(str(data)), "val", img_size=size, augment=False)
    before = evaluate_model(load_detector(shipped), create_dataloader(ds, 16, shuffle=False, workers=0))
    cfg = TrainConfig(weights=str(shipped), data=str(data), epochs=2, lr0=0.001, img_size=size, batch_size=16, nbs=16,
                      workers=0, plots=False, project=str(tmp_path / "runs"), seed=1)
    after = Trainer(cfg).fit()
    print(f"AP {before['AP']:.4f} -> {after['AP']:.4f}, AP75 {before['AP75']:.4f} -> {after['AP75']:.4f}")
    assert before["AP"] > 0.5
    assert after["AP"] >= before["AP"] - 0.005, (before["AP"], after["AP"])
