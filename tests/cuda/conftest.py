"""The ``cuda`` tests: CUDA against the CPU and the CLI on a GPU. Deselected by default (setup.cfg);
``pytest -m cuda tests/cuda`` runs them, and ``benchmarks/gpu_check.py`` runs that."""
import pytest
import torch

from tests.train.conftest import tiny_data  # noqa: F401  (the synthetic dataset fixture, shared)


@pytest.fixture(autouse=True)
def _needs_cuda():
    if not torch.cuda.is_available():
        pytest.skip(f"no CUDA device visible to torch {torch.__version__}")


@pytest.fixture
def strict_fp32():
    """cuDNN and cuBLAS compute FP32 convs and matmuls in TF32 on Ampere and later by default;
    an FP32 comparison needs real FP32."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
