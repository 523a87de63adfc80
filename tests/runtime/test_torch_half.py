"""--half on the CPU in PyTorch: bf16 where oneDNN runs it natively, a one-line refusal elsewhere."""
import numpy as np
import pytest
import torch

from detector.runtime.backends import load_backend


def test_half_runs_the_model_in_bf16_and_keeps_the_decoded_rows_close():
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no bf16 in oneDNN (the refusal is tested below)")
    f32 = load_backend("csppeleenet-efm-nano", "torch", img_size=64)
    half = load_backend("csppeleenet-efm-nano", "torch", img_size=64, half=True)
    assert half.dtype == torch.bfloat16 and next(half.model.parameters()).dtype == torch.bfloat16
    blob = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    a, b = f32(blob), half(blob)
    assert b.dtype == np.float32 and a.shape == b.shape
    assert np.abs(a[..., 4:] - b[..., 4:]).max() < 0.05  # bf16 keeps 8 bits of mantissa: scores to ~1%
    assert not np.array_equal(a, b)  # it did run in another precision


def test_half_on_a_cpu_without_bf16_is_a_one_line_refusal(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    with pytest.raises(ValueError, match=r"^--half: this CPU has no bf16 convolutions in PyTorch"):
        load_backend("csppeleenet-efm-nano", "torch", img_size=64, half=True)
