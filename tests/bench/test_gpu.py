"""detector.bench.gpu on a machine without a GPU: the driver version from either /proc format,
no driver at all, and synchronised timing that runs on the CPU too."""
import pytest
import torch

from detector.bench import gpu


@pytest.mark.parametrize("text", [
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\nGCC version: gcc",
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  (dvs-builder@U16)"])
def test_driver_version_reads_both_proc_formats(tmp_path, monkeypatch, text):
    proc = tmp_path / "version"
    proc.write_text(text)
    monkeypatch.setattr(gpu, "NVIDIA_PROC", proc)
    assert gpu.driver_version() == "550.54.15"


def test_no_driver_is_none_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "NVIDIA_PROC", tmp_path / "absent")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi either
    assert gpu.driver_version() is None


def test_cpu_info_and_timing_without_cuda():
    device = torch.device("cpu")
    info = gpu.gpu_info(device)
    assert info["gpu"] is None and info["torch"] == torch.__version__ and info["date"]
    calls = []
    stat = gpu.time_forward(lambda: calls.append(1), device, runs=4, warmup=2)
    assert stat.n == 4 and len(calls) == 6
