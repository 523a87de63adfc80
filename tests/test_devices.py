import pytest
import torch

from detector.cli import main
from detector.devices import parse_device, select_device


@pytest.mark.parametrize("spec, parsed", [("", "auto"), (None, "auto"), ("auto", "auto"), ("cpu", "cpu"),
                                          ("CPU", "cpu"), ("0", [0]), ("0,1", [0, 1]), ("0, 1", [0, 1]),
                                          ("cuda", [0]), ("cuda:1", [1]), ("cuda:0,2", [0, 2])])
def test_yolov5_device_strings(spec, parsed):
    assert parse_device(spec) == parsed


@pytest.mark.parametrize("spec", ["tpu", "gpu", "-1", "0,", "cuda:x", "1.5"])
def test_unknown_devices_are_refused_by_name(spec):
    with pytest.raises(ValueError, match=rf"--device '{spec}'.*unknown device"):
        parse_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answers")
def test_auto_is_the_cpu_without_cuda_and_a_named_gpu_is_an_error():
    assert select_device("") == "cpu" and select_device("cpu") == "cpu"
    for spec in ("0", "0,1", "cuda:0"):
        with pytest.raises(ValueError, match=f"--device {spec}: CUDA is not available"):
            select_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answers")
def test_cli_reports_a_missing_gpu_in_one_line(capsys, tmp_path):
    assert main(["detect", "--device", "0", "--project", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cspdet detect: error: --device 0: CUDA is not available") and "\n" not in err
