"""PyTorch's OpenMP threads wait passively unless asked to spin: read back from libgomp itself.

``OMP_DISPLAY_ENV=VERBOSE`` makes libgomp print the settings it runs with when it starts. Its
``OMP_WAIT_POLICY`` line says PASSIVE for an unset variable too, so the spin count (0 only for an
explicit PASSIVE, 300000 when unset, 3e10 for ACTIVE) is what tells the policies apart.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NANO = ROOT / "configs" / "models" / "csppeleenet-efm-nano.yaml"
TORCH_OP = "import torch; (torch.rand(64, 64, 64) + 1).sum()"


def libgomp_settings(args: list[str], **env_extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "CSPDET_SPIN", "GOMP_SPINCOUNT")}
    env.update(OMP_DISPLAY_ENV="VERBOSE", PYTHONPATH=str(ROOT), **env_extra)
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    found = dict(re.findall(r"^\s+(OMP_WAIT_POLICY|GOMP_SPINCOUNT) = '([^']*)'", r.stderr, re.M))
    if not found:
        pytest.skip("this PyTorch does not use GNU OpenMP (no OMP_DISPLAY_ENV output to read)")
    return found


def test_importing_detector_makes_torch_wait_passively():
    got = libgomp_settings(["-c", f"import detector; {TORCH_OP}"])
    assert got == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}


def test_without_detector_libgomp_spins_so_the_check_above_means_something():
    assert libgomp_settings(["-c", TORCH_OP])["GOMP_SPINCOUNT"] != "0"


def test_cspdet_spin_env_and_a_users_own_policy_are_kept():
    assert libgomp_settings(["-c", f"import detector; {TORCH_OP}"], CSPDET_SPIN="1")["OMP_WAIT_POLICY"] == "ACTIVE"
    assert libgomp_settings(["-c", f"import detector; {TORCH_OP}"], OMP_WAIT_POLICY="ACTIVE")["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_cli_spin_flag_reaches_torch_and_the_default_does_not(tmp_path):
    img = tmp_path / "a.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(img), np.full((64, 64, 3), 127, np.uint8))
    cmd = ["-m", "detector", "detect", "--weights", str(NANO), "--backend", "torch", "--img-size", "64",
           "--source", str(img), "--nosave"]
    assert libgomp_settings(cmd + ["--spin"])["OMP_WAIT_POLICY"] == "ACTIVE"
    assert libgomp_settings(cmd) == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}
