"""Zoo names wherever a weights path is accepted: the resolver, Detector, load_detector, the
CLI subcommands, bench MODEL arguments, and the ``cspdet models`` table."""
import pytest

from detector.cli import main
from detector.data.coco import COCO_NAMES
from detector.models import zoo
from detector.models.loading import load_detector
from detector.resources import default_weights_path
from tests.models.conftest import NAME

REQUIRED = ("yolov4", "yolov4-tiny", "yolov4-csp", "yolov3-tiny", "yolov3-tiny-prn", "csresnext50-panet-spp",
            "csdarknet53-panet-spp", "cspdet-shapes")


@pytest.fixture
def cached(tiny_zoo, monkeypatch, refused_url):
    """``tiny-zoo`` downloaded once, then the mirror switched to a port nothing listens on."""
    zoo.resolve_weights(NAME)
    monkeypatch.setenv("CSPDET_ZOO_MIRROR", refused_url)
    return tiny_zoo


def test_models_lists_every_entry(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    monkeypatch.delenv("CSPDET_ZOO_MIRROR")
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[1:len(zoo.ZOO) + 1]}
    assert set(REQUIRED) <= set(zoo.ZOO) and list(rows) == list(zoo.ZOO)
    assert rows["cspdet-shapes"].endswith("yes") and rows["yolov4"].endswith("no")
    assert "65.7 @608" in rows["yolov4"] and "257.7 MB" in rows["yolov4"] and "128.39" in rows["yolov4"]
    assert "Google Drive" in rows["csresnext50-panet-spp"]
    notes = "\n".join(lines)
    assert "arXiv:2004.10934" in notes and "not COCO" in notes and str(tmp_path) in notes


def test_models_download_fetches_named_models(tiny_zoo, capsys):
    assert main(["models", "--download", NAME]) == 0
    assert f"{NAME}: {zoo.home() / (NAME + '.weights')}" in capsys.readouterr().out
    assert zoo.cache_state(NAME) == "yes"
    assert main(["models", "--download", "nope"]) == 2
    assert "'nope' is not a zoo model" in capsys.readouterr().err


def test_detector_and_load_detector_resolve_a_cached_name_without_network(cached):
    from detector.runtime.predictor import Detector

    n = len(cached.requests)
    model = load_detector(NAME)
    assert model.img_size == 64 and list(model.names) == list(COCO_NAMES)
    det = Detector(NAME, backend="torch")  # the default, auto, would export it (test_auto_backend.py)
    assert det.backend.name == "torch" and det.names == list(COCO_NAMES)
    assert len(cached.requests) == n


def test_onnxruntime_backend_and_bench_take_a_zoo_name(cached):
    from detector.bench.specs import parse_model
    from detector.runtime.backends.base import ensure_onnx
    from detector.runtime.predictor import Detector

    assert Detector(NAME, backend="onnxruntime").backend.name == "onnxruntime"
    assert ensure_onnx(NAME).suffix == ".onnx"
    spec = parse_model(f"{NAME}@64")
    assert (spec.kind, spec.label, spec.size) == ("detector", NAME, 64)
    assert spec.source == str(zoo.home() / f"{NAME}.weights")


def test_convert_and_export_take_a_zoo_name(cached, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["convert", "--weights", NAME, "-o", "tiny.pt"]) == 0
    assert list(load_detector(tmp_path / "tiny.pt").names) == list(COCO_NAMES)
    assert main(["export", "--weights", NAME]) == 0
    assert (tmp_path / f"{NAME}-64.onnx").is_file()


def test_shipped_name_is_the_bundled_weights():
    assert zoo.resolve_weights("cspdet-shapes") == (default_weights_path(), None)
    assert zoo.cache_state("cspdet-shapes") == "yes"


def test_names_that_are_files_and_other_values_pass_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert zoo.resolve_weights("csppeleenet-prn", "x.cfg") == ("csppeleenet-prn", "x.cfg")
    (tmp_path / "yolov4").write_text("a file the user named so")
    assert zoo.resolve_weights("yolov4") == ("yolov4", None)
    with pytest.raises(ValueError, match="brings its own cfg"):
        zoo.resolve_weights("yolov3-tiny", "other.cfg")


def test_failed_download_is_one_cli_line(tiny_zoo, capsys):
    del tiny_zoo.files[f"/{NAME}.weights"]
    assert main(["info", "--weights", NAME, "--no-layers"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("cspdet info: error: cannot download ") and f"{NAME}.weights" in err


def test_an_offline_first_use_names_every_missing_file_at_once(tiny_zoo, monkeypatch, refused_url, capsys):
    monkeypatch.setenv("CSPDET_ZOO_MIRROR", refused_url)
    assert main(["info", "--weights", NAME, "--no-layers"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    weights, cfg = zoo.local_paths(NAME)
    assert err.count("\n") == 0 and f"save it as {cfg}" in err and f"save it as {weights}" in err, err
    assert f"{refused_url}/{NAME}.weights" in err  # where to fetch the second file from
