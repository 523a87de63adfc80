"""Export-on-demand cache: reused while nothing changed, never reused across exporter code changes."""
from pathlib import Path

from detector.runtime.backends import base

ROOT = Path(__file__).resolve().parents[2]
NANO = ROOT / "configs" / "models" / "csppeleenet-efm-nano.yaml"


def test_export_cache_is_reused_and_keyed_on_exporter_code(tmp_path, monkeypatch):
    monkeypatch.setattr(base.tempfile, "gettempdir", lambda: str(tmp_path))
    first = base.ensure_onnx(NANO, img_size=64)
    assert first.is_file() and first.parent == tmp_path / "cspdet-onnx"
    mtime = first.stat().st_mtime_ns
    assert base.ensure_onnx(NANO, img_size=64) == first and first.stat().st_mtime_ns == mtime
    assert base.ensure_onnx(NANO, img_size=96) != first

    monkeypatch.setattr(base, "_code_revision", lambda: "a-newer-exporter")
    upgraded = base.ensure_onnx(NANO, img_size=64)
    assert upgraded != first and upgraded.is_file()


def test_code_revision_is_a_stable_hash():
    assert base._code_revision() == base._code_revision()
    assert len(base._code_revision()) == 12
