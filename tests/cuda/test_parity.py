"""Every model config (and the Darknet YOLOv4 graphs) gives the CPU's answer on CUDA: raw maps and
decoded rows in FP32 (TF32 off), under autocast (AMP, as training runs) and in FP16 (``--half``).

Tolerances come from the values: atol is a fraction of the reference's largest magnitude. FP32
differs from the CPU only by summation order (~1e-6 relative); FP16 keeps 11 mantissa bits, so
about 5e-4 relative after a hundred layers (bfloat16 autocast on the CPU, 8 bits, measured
3e-3 on these random-weight models). The bounds leave a wide margin over both: a wrong op, layout
or dtype shows as an error of the order of the values themselves.
"""
import numpy as np
import pytest
import torch

from detector.runtime.backends.torch_backend import TorchBackend
from tests.conftest import REPO, shared_dir

pytestmark = pytest.mark.cuda

CONFIGS = sorted(p.stem for p in (REPO / "configs" / "models").glob("*.yaml"))
DARKNET = ["yolov4-tiny", "yolov4"]
SIZE, BATCH = 320, 2
TOL = {"fp32": 1e-3, "amp": 2e-2, "half": 2e-2}  # of the reference's max |value|; wide: a bug is O(1)


def source(name: str) -> str:
    if name not in DARKNET:
        return name
    cfg = shared_dir() / "darknet" / f"{name}.cfg"
    if not cfg.is_file():
        pytest.skip(f"{cfg} not found: set CSPDET_SHARED to the folder holding darknet/*.cfg")
    return str(cfg)


def close(got, ref, tol: float, what: str) -> None:
    got, ref = got.float().cpu(), ref.float().cpu()
    scale = float(ref.abs().max())
    torch.testing.assert_close(got, ref, rtol=tol, atol=tol * scale, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("name", CONFIGS + DARKNET)
def test_cuda_matches_cpu_in_fp32_amp_and_fp16(name, strict_fp32):
    src = source(name)
    blob = np.random.default_rng(0).random((BATCH, 3, SIZE, SIZE), dtype=np.float32)
    x = torch.from_numpy(blob)
    cpu, gpu = TorchBackend(src, device="cpu"), TorchBackend(src, device="0")
    with torch.inference_mode():
        ref_maps, ref = cpu.model(x), torch.from_numpy(cpu(blob))
        xg = x.to(gpu.device)
        runs = {"fp32": gpu.model(xg)}
        with torch.autocast("cuda", dtype=torch.float16):
            runs["amp"] = gpu.model(xg)
        half = TorchBackend(src, device="0", half=True)
        runs["half"] = half.model(xg.half())
    assert all(m.dtype == torch.float16 for m in [*runs["amp"], *runs["half"]])  # low precision really ran
    for precision, maps in runs.items():
        tol = TOL[precision]
        for i, (m, r) in enumerate(zip(maps, ref_maps)):
            close(m, r, tol, f"{name} {precision} raw{i}")
        with torch.inference_mode():
            rows = gpu.decoder([m.float() for m in maps])
        close(rows[..., 4:], ref[..., 4:], tol, f"{name} {precision} scores")
        close(rows[..., :2], ref[..., :2], tol / 10, f"{name} {precision} box centres")  # ~SIZE px scale
        torch.testing.assert_close(rows[..., 2:4].cpu(), ref[..., 2:4], rtol=tol, atol=0.0,
                                   msg=lambda m: f"{name} {precision} box sizes: {m}")
    np.testing.assert_allclose(gpu(blob), ref.numpy(), rtol=1e-3, atol=1e-3 * float(ref.abs().max()))
