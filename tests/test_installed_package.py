"""cspdet as a user gets it: a wheel built from this tree, installed outside the checkout, run
from another folder. Catches shipped files that only a checkout has (model YAMLs, the default
weights, the demo media)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# What a wheel is built from: the package and the files setup.py ships with it.
SOURCES = ("detector", "configs", "weights", "demos", "setup.py", "setup.cfg", "README.md", "MANIFEST.in", "LICENSE")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site folder holding the installed wheel, environment that imports it first)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.onnx")
    for name in SOURCES:
        path = REPO / name
        (shutil.copytree(path, src / name, ignore=ignore) if path.is_dir() else shutil.copy2(path, src / name))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # No build isolation: the wheel builds offline with the setuptools already installed.
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(src)],
                   check=True, capture_output=True, text=True)
    wheels = list((root / "dist").glob("cspdet-*.whl"))
    assert len(wheels) == 1, wheels
    site = root / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheels[0])],
                   check=True, capture_output=True, text=True)
    shutil.rmtree(src)  # nothing of the tree is left to fall back on
    env = {**os.environ, "PYTHONPATH": str(site), "CSPDET_HOME": str(root / "home")}
    return site, env


def cspdet(env, cwd, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "detector", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_wheel_carries_the_shipped_files(installed):
    site, _ = installed
    assets = site / "detector" / "_assets"
    assert (assets / "weights" / "cspdet-shapes.pt").is_file()
    assert (assets / "configs" / "csppeleenet-efm-sam.yaml").is_file()
    assert {p.stem for p in (assets / "configs").glob("*.yaml")} == {p.stem for p in (REPO / "configs" / "models").glob("*.yaml")}
    assert sorted(p.name for p in (assets / "media").iterdir()) == sorted(
        p.name for p in (REPO / "demos" / "media").iterdir())
    assert sorted(p.name for p in (site / "detector" / "serve" / "static").iterdir()) == [  # cspdet serve's page
        "app.js", "index.html", "style.css"]


def test_detect_with_no_arguments_from_another_folder(installed, tmp_path):
    site, env = installed
    r = subprocess.run([sys.executable, "-c", "import detector; print(detector.__file__)"], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert Path(r.stdout.strip()).is_relative_to(site), r.stdout  # the wheel, not the checkout
    r = cspdet(env, tmp_path, "detect")
    assert r.returncode == 0, r.stderr
    assert "randomly initialised" not in r.stdout + r.stderr  # the shipped weights were found
    assert "Done: 4 items" in r.stdout
    out = tmp_path / "runs" / "detect" / "exp"
    assert len(list(out.glob("demo_*.jpg"))) == 4


def test_every_subcommand_finds_the_shipped_model(installed, tmp_path):
    _, env = installed
    r = cspdet(env, tmp_path, "info", "--no-layers")
    assert r.returncode == 0 and "csppeleenet-efm-sam" in r.stdout, r.stderr
    r = cspdet(env, tmp_path, "bench", "csppeleenet-efm-sam", "--backends", "torch", "--img-size", "64",
               "--runs", "1", "--warmup", "0", "--no-progress")
    assert r.returncode == 0, r.stderr
    code = "from detector import Detector; d = Detector('csppeleenet-efm-sam'); print(len(d.names))"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "80", r.stderr


def test_val_and_train_with_their_defaults(installed, tmp_path):
    _, env = installed
    r = cspdet(env, tmp_path, "synth", "shapes", "--train", "8", "--val", "4", "--img-size", "64")
    assert r.returncode == 0, r.stderr
    data = str(tmp_path / "shapes" / "data.yaml")
    r = cspdet(env, tmp_path, "val", "--data", data, "--img-size", "64")
    assert r.returncode == 0, r.stderr
    r = cspdet(env, tmp_path, "train", "--data", data, "--epochs", "1", "--img-size", "64", "--batch-size", "4",
               "--workers", "0", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "runs" / "train" / "exp" / "weights" / "last.pt").is_file()


def test_the_bundled_media_demos_and_licence_come_with_the_wheel(installed, tmp_path):
    site, env = installed
    assert list(site.glob("cspdet-*.dist-info/**/LICENSE"))  # setup.cfg's MIT, as a file
    r = cspdet(env, tmp_path, "predict", "source=demo", "vid_stride=20", "save=False", "save_txt=True")
    assert r.returncode == 0 and "Done: 3 items" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "detector.demos.folder", "demo-images", "out"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "4 images, 0 skipped" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "detector.demos.webcam", "--source", "demo", "--no-show", "--save",
                        "w.mp4"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "60 frames" in r.stdout, r.stderr
    code = "from detector import Detector; print(Detector().names)"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.stdout.strip() == "['circle', 'square', 'triangle', 'cross']", r.stderr
