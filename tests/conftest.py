import os
from pathlib import Path

import pytest

import detector  # noqa: F401  (first: PyTorch's threads then wait passively, as in cspdet, on shared cores)
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_BEFORE = pytest.StashKey[dict]()

# oneDNN builds a kernel per new conv shape on first use (about 5 s for one EFM forward); tests
# run each shape once or twice, so PyTorch's native kernels finish the suite several times sooner.
torch.backends.mkldnn.enabled = False


def shared_dir() -> Path:
    return Path(os.environ.get("CSPDET_SHARED", REPO.parent / "shared"))


def missing_shared(reason: str):
    """Skip a test whose shared data (or OpenCV's Darknet importer) is absent; under CI=true that
    is a failure, so a CI run can never pass by skipping its parity tests."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def pytest_runtest_setup(item):
    """``@pytest.mark.darknet_importer``: the test compares against OpenCV's own Darknet importer,
    which opencv-python 5 dropped. Skipped there with the reason; under CI=true a failure, since
    the main CI venv keeps 4.x for exactly these tests (the 5.x pass never selects them)."""
    if item.get_closest_marker("darknet_importer"):
        import cv2

        from detector.runtime.backends.opencv_backend import has_darknet_importer

        if not has_darknet_importer():
            missing_shared(f"OpenCV {cv2.__version__} has no Darknet importer (cv2.dnn.readNetFromDarknet, dropped "
                           "in 5.x); the Darknet parity tests need opencv-python 4.x, as `pip install -e .[dev]` gives")


def shared_listing() -> dict[str, tuple[int, int]]:
    """Every file under the shared data with its size and mtime (a few hundred files)."""
    root = shared_dir()
    out = {}
    for path in root.rglob("*") if root.is_dir() else ():
        try:
            st = path.lstat()
        except OSError:
            continue
        out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def pytest_sessionstart(session):
    if os.environ.get("CI") == "true" and not (shared_dir() / "darknet").is_dir():
        raise pytest.UsageError(f"CI=true but the shared data is missing at {shared_dir()} (set CSPDET_SHARED)")
    session.config.stash[SHARED_BEFORE] = shared_listing()


def pytest_sessionfinish(session, exitstatus):
    """Tests read ../shared and never write into it; a root run can write even into r-x folders
    (the label cache refuses those, but a helper that forgets would go unnoticed), so the whole
    run fails if any file there appeared, vanished or changed."""
    before = session.config.stash.get(SHARED_BEFORE, None)
    if before is None:
        return
    after = shared_listing()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        session.config.get_terminal_writer().line(
            f"FAILED: the tests wrote into the shared data {shared_dir()}: {', '.join(changed[:10])}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def shared():
    """The read-only data beside the checkout (../shared or $CSPDET_SHARED)."""
    path = shared_dir()
    if not (path / "darknet").is_dir():
        missing_shared(f"shared data not found at {path} (set CSPDET_SHARED to the folder holding darknet/ and data/)")
    return path


@pytest.fixture(autouse=True)
def _zoo_offline(monkeypatch, tmp_path_factory):
    """No test fetches a zoo model from the internet or writes to ~/.cache: the cache is a temp
    folder and the mirror a port nothing listens on (tests/models points it at its own server)."""
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path_factory.getbasetemp() / "cspdet-home"))
    monkeypatch.setenv("CSPDET_ZOO_MIRROR", "http://127.0.0.1:9")
