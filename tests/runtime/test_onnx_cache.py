"""Export-on-demand cache: reused while nothing changed, never reused across exporter code changes."""
from pathlib import Path

from detector.runtime.backends import base

ROOT = Path(__file__).resolve().parents[2]
NANO = ROOT / "configs" / "models" / "csppeleenet-efm-nano.yaml"


def test_export_cache_is_reused_and_keyed_on_exporter_code(tmp_path, monkeypatch):
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    first = base.ensure_onnx(NANO, img_size=64)
    assert first.is_file() and first.parent == tmp_path / "cache" / "exports"
    mtime = first.stat().st_mtime_ns
    assert base.ensure_onnx(NANO, img_size=64) == first and first.stat().st_mtime_ns == mtime
    assert base.ensure_onnx(NANO, img_size=96) != first

    monkeypatch.setattr(base, "_code_revision", lambda: "a-newer-exporter")
    upgraded = base.ensure_onnx(NANO, img_size=64)
    assert upgraded != first and upgraded.is_file()


def test_code_revision_is_a_stable_hash():
    assert base._code_revision() == base._code_revision()
    assert len(base._code_revision()) == 12


def test_a_yaml_edit_that_keeps_size_and_mtime_misses_the_cache(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    cfg = tmp_path / "m.yaml"
    text = NANO.read_text()
    cfg.write_text(text)
    first = base.ensure_onnx(cfg, img_size=64)
    st = cfg.stat()
    edited = text.replace("width: 0.5", "width: 0.4")
    assert len(edited) == len(text) and edited != text
    cfg.write_text(edited)
    os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert base.ensure_onnx(cfg, img_size=64) != first


def test_a_checkpoint_with_new_weights_misses_the_cache(tmp_path, monkeypatch):
    import torch

    from detector.models import build_model
    from detector.models.checkpoint import save_checkpoint

    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    model = build_model(str(NANO))
    pt = save_checkpoint(tmp_path / "m.pt", model)
    first = base.ensure_onnx(pt, img_size=64)
    with torch.no_grad():
        model.head.convs[0].bias.add_(1)
    save_checkpoint(pt, model)
    assert base.ensure_onnx(pt, img_size=64) != first


def test_an_export_that_crashes_leaves_nothing_to_serve(tmp_path, monkeypatch):
    import detector.export

    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))

    def crash(model, path, **kwargs):
        Path(path).write_bytes(b"half an onnx file")
        raise KeyboardInterrupt

    real = detector.export.export_onnx
    monkeypatch.setattr(detector.export, "export_onnx", crash)
    try:
        base.ensure_onnx(NANO, img_size=64)
    except KeyboardInterrupt:
        pass
    assert list((tmp_path / "cache" / "exports").iterdir()) == []
    monkeypatch.setattr(detector.export, "export_onnx", real)
    assert base.ensure_onnx(NANO, img_size=64).stat().st_size > 1000


def test_the_key_covers_every_module_an_export_imports():
    import subprocess
    import sys

    code = ("import sys, detector.export, detector.models.loading, detector.darknet.detector\n"
            "print('\\n'.join(m.__file__ for n, m in list(sys.modules.items()) if n.startswith('detector')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout
    imported = {Path(f).resolve() for f in out.split()}
    # data/__init__ (and lazy.py, its lazy names) only come along with data/coco.py; resources finds
    # files; waiting.py sets PyTorch's thread wait policy: none of them shapes a graph.
    ignored = {ROOT / "detector" / p for p in ("data/__init__.py", "lazy.py", "resources.py", "waiting.py")}
    assert imported - ignored <= set(base.graph_code_files())
    assert ROOT / "detector" / "geometry" / "decode.py" in base.graph_code_files()
