import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests run many tiny ops: on a shared 2-core machine, intra-op threads only add
    contention (the 150-step fit runs ~5x faster on one thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
