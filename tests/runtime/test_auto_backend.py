"""--backend auto: the fastest exact runtime installed, exported once, the same boxes as PyTorch."""
from pathlib import Path

import numpy as np
import pytest

from detector import Detector
from detector.io.images import read_image
from detector.runtime.backends import auto, base
from tests.conftest import missing_shared, shared_dir

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "weights" / "cspdet-shapes.pt"
NANO = ROOT / "configs" / "models" / "csppeleenet-efm-nano.yaml"


def coco128(n: int) -> list[np.ndarray]:
    images = sorted((shared_dir() / "data" / "coco128" / "images").glob("*.jpg"))[:n]
    if len(images) < n:
        missing_shared(f"coco128 not found under {shared_dir()} (set CSPDET_SHARED)")
    return [read_image(p) for p in images]


def first_runtime() -> str:
    return next(n for n in auto.CPU_ORDER if n == "torch" or auto.installed(n))


@pytest.mark.parametrize("order", [None, "onnxruntime"])
def test_auto_gives_pytorchs_boxes_on_coco128(order, monkeypatch, capsys):
    if order:
        monkeypatch.setenv(auto.ORDER_ENV, order)
    kw = dict(img_size=256, conf_thres=0.05, device="cpu")
    fast, ref = Detector(SHAPES, **kw), Detector(SHAPES, backend="torch", **kw)
    want = order or first_runtime()
    assert fast.backend.name == want and fast.backend_choice.backend == want
    assert ref.backend.name == "torch" and ref.backend_choice is None
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("auto: ")]
    assert lines[-1].startswith(f"auto: {want} (") and "measured" in lines[-1]
    boxes = 0
    for img in coco128(8):
        a, b = ref(img), fast(img)
        assert len(a) == len(b)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1.0)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        boxes += len(a)
    assert boxes > 0, "nothing detected: the comparison compared nothing"


def test_the_export_is_announced_once_and_reused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    monkeypatch.setenv(auto.ORDER_ENV, "onnxruntime")
    first = Detector(NANO, img_size=64)
    err = capsys.readouterr().err
    cached = first.backend_choice.path
    assert cached.parent == tmp_path / "cache" / "exports" and cached.is_file()
    assert f"auto: exporting {NANO.name} to ONNX once, cached at {cached} ..." in err
    assert err.count("exporting") == 1 and " s\n" in err
    mtime = cached.stat().st_mtime_ns
    again = Detector(NANO, img_size=64)
    assert "exporting" not in capsys.readouterr().err
    assert again.backend_choice.path == cached and cached.stat().st_mtime_ns == mtime
    assert list(cached.parent.iterdir()) == [cached]  # no temp file left behind


def test_a_failed_export_falls_back_to_torch_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    monkeypatch.setenv(auto.ORDER_ENV, "onnxruntime")

    def broken(*args, **kwargs):
        raise RuntimeError("the exporter broke")

    monkeypatch.setattr(base, "ensure_onnx", broken)
    det = Detector(NANO, img_size=64)
    assert det.backend.name == "torch"
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == "auto: torch (onnxruntime failed: the exporter broke)"


def test_runtime_files_keep_their_backend_and_torch_is_todays_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    onnx = base.ensure_onnx(NANO, img_size=64)
    assert Detector(onnx).backend.name == "onnxruntime" and Detector(onnx, backend="auto").backend_choice is None
    before = sorted((tmp_path / "cache" / "exports").iterdir())
    det = Detector(NANO, img_size=96, backend="torch")
    assert det.backend.name == "torch" and sorted((tmp_path / "cache" / "exports").iterdir()) == before


def test_cuda_and_half_go_to_torch(monkeypatch, capsys):
    monkeypatch.setattr(auto, "uses_gpu", lambda device: True)
    built = []
    backend, choice = auto.choose(NANO, lambda name, path: built.append(name) or name)
    assert built == ["torch"] and choice.backend == "torch" and "CUDA" in choice.reason
    monkeypatch.setattr(auto, "uses_gpu", lambda device: False)
    _, choice = auto.choose(NANO, lambda name, path: name, half=True)
    assert choice.backend == "torch" and "--half" in choice.reason


def test_the_order_can_be_changed_and_a_bad_one_is_refused(monkeypatch):
    monkeypatch.setenv(auto.ORDER_ENV, "onnxruntime , openvino")
    assert auto.cpu_order() == ("onnxruntime", "openvino", "torch")
    monkeypatch.setenv(auto.ORDER_ENV, "tflite")
    with pytest.raises(ValueError, match="CSPDET_AUTO_ORDER='tflite'"):
        auto.cpu_order()


def test_dynamic_takes_any_input_size(tmp_path, monkeypatch):
    """val --rect feeds each batch at its own shape: auto then exports dynamic axes."""
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    img = coco128(1)[0]
    det = Detector(SHAPES, img_size=256, conf_thres=0.05, dynamic=True)
    ref = Detector(SHAPES, img_size=256, conf_thres=0.05, backend="torch")
    assert det.backend.name in auto.ANY_SIZE and det.backend.input_size is None
    a, b = ref.predict([img], size=(192, 256))[0], det.predict([img], size=(192, 256))[0]
    assert len(a) == len(b)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1.0)
