import os
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
