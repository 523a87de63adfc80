import json
import subprocess
import sys

import pytest

from detector.cli import main


def test_info_json_has_the_counts(capsys):
    assert main(["info", "--config", "csppeleenet-prn", "--img-size", "416", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"params", "params_total", "gflops", "cio", "layers"} <= set(d)
    assert d["gflops"] == pytest.approx(3.590, rel=0.03)
    assert d["layers"][0]["out_shape"] == [1, 32, 208, 208]


def test_info_classifier_table_and_plot(tmp_path, capsys):
    png = tmp_path / "fig" / "pelee.png"
    assert main(["info", "--backbone", "csppeleenet", "--classifier", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "csppeleenet classifier @ 224x224" in out and "2.832M" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_non_square_input(capsys):
    assert main(["info", "--config", "csppeleenet-efm", "--img-size", "320", "480", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_shape"] == [1, 3, 320, 480]


@pytest.mark.parametrize("argv,msg", [
    (["info", "--config", "nope"], "model 'nope' not found"),
    (["info", "--backbone", "vgg16"], "--backbone 'vgg16' unknown"),
    (["info", "--classifier"], "--classifier needs --backbone"),
    (["info", "--img-size", "8"], "--img-size"),
])
def test_info_errors_are_one_line(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "detector", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("cspdet ")


def test_backend_choices_come_from_the_backend_table_without_heavy_imports(capsys):
    code = ("import sys; import detector.cli.bench, detector.cli.common; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'cv2', 'openvino', 'detector.bench') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr

    from detector.runtime.backends import AUTO, BACKENDS, BENCH_CHOICES

    assert main(["detect", "--help"]) == 0
    assert "{" + ",".join([AUTO, *BACKENDS]) + "}" in capsys.readouterr().out
    assert main(["bench", "--help"]) == 0
    assert ", ".join(BENCH_CHOICES) in " ".join(capsys.readouterr().out.split())


def test_val_and_detect_help_show_their_defaults(capsys):
    assert main(["val", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("score threshold (default: 0.001; 0.25 with --task speed)", "(default: 0.6; 0.45 with --task speed)",
                  "detections per image (default: 300)", "images per inference call (default: 8)",
                  "{val,speed}", "--single-cls", "--save-json", "--save-txt", "--verbose", "(default: runs/val)"):
        assert shown in text, shown
    assert "(default: None)" not in text and "(default: False)" not in text
    assert main(["detect", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(objectness x class) (default: 0.25)" in text and "NMS IoU threshold (default: 0.45)" in text
