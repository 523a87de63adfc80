import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# oneDNN builds a kernel per new conv shape on first use (about 5 s for one EFM forward); tests
# run each shape once or twice, so PyTorch's native kernels finish the suite several times sooner.
torch.backends.mkldnn.enabled = False


def shared_dir() -> Path:
    return Path(os.environ.get("CSPDET_SHARED", REPO.parent / "shared"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def shared():
    """The read-only data beside the checkout (../shared or $CSPDET_SHARED)."""
    path = shared_dir()
    if not (path / "darknet").is_dir():
        pytest.skip(f"shared data not found at {path} (set CSPDET_SHARED to the folder holding darknet/ and data/)")
    return path
