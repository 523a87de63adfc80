"""``cspdet --help``, every subcommand's ``--help`` and ``--version`` stay light: they import neither
torch nor OpenCV (nor the other heavy packages), so they answer at once. Subcommands are taken
from ``COMMANDS``, so one added later is held to it too."""
import json
import subprocess
import sys

from detector.cli import COMMANDS
from tests.conftest import REPO

HEAVY = ("torch", "cv2", "numpy", "onnx", "onnxruntime", "openvino", "matplotlib", "scipy", "pycocotools", "yaml")

PROBE = r"""
import contextlib, io, json, sys
from detector.cli import COMMANDS, build_parser, main
from detector.cli.parsing import subparsers
names = list(subparsers(build_parser()))        # every subcommand and alias (predict)
out = {}
for argv in [["--help"], ["--version"], *([n, "--help"] for n in names)]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    out[" ".join(argv)] = [code, len(buf.getvalue())]
print(json.dumps({"runs": out, "names": names, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def test_help_of_every_subcommand_imports_no_heavy_package():
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert set(COMMANDS) <= set(found["names"]) and "predict" in found["names"]
    assert all(code == 0 and size > 0 for code, size in found["runs"].values()), found["runs"]
    assert found["heavy"] == [], f"--help imported {found['heavy']}"
