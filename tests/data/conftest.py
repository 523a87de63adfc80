import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.conftest import missing_shared

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def coco128():
    """The read-only coco128 copy beside the checkout (../shared/data/coco128 or $CSPDET_SHARED)."""
    path = Path(os.environ.get("CSPDET_SHARED", REPO.parent / "shared")) / "data" / "coco128"
    if not (path / "images").is_dir() or not (path / "labels").is_dir():
        missing_shared(f"coco128 not found at {path} (set CSPDET_SHARED to the folder holding data/coco128)")
    return path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Label caches that fall back from a read-only folder land in a per-test folder, never in
    the user's ~/.cache."""
    cache = tmp_path_factory.mktemp("cspdet-cache")
    monkeypatch.setenv("CSPDET_CACHE_DIR", str(cache))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache / "xdg"))
    return cache


@pytest.fixture
def read_only_coco128(coco128, tmp_path_factory):
    """A copy of coco128 whose folders are r-x, as the shared data is meant to be: ``../shared``
    may be a writable folder or symlink on some machines, and a test of the read-only path must
    neither depend on that nor write there."""
    copy = tmp_path_factory.mktemp("shared-ro") / "coco128"
    shutil.copytree(coco128, copy, symlinks=False)
    folders = [copy, *(p for p in copy.rglob("*") if p.is_dir())]
    mode = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for folder in folders:
        os.chmod(folder, mode)
    yield copy
    for folder in folders:  # so pytest can clean its temporary folders
        os.chmod(folder, mode | stat.S_IWUSR)
