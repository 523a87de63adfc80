"""How PyTorch's OpenMP threads wait between parallel regions: passively by default.

libgomp reads ``OMP_WAIT_POLICY`` once, when PyTorch loads it: busy-waiting ("ACTIVE") threads
keep every core busy between ops, and on a CPU shared with other programs the torch path then
collapses (16 images on 2 busy cores: 1,564 ms per image spinning, 126 ms passive). So
``import detector`` sets PASSIVE before anything imports torch, unless the variable is already
set. ``--spin`` (the CLI sets it before it imports torch) or ``CSPDET_SPIN=1`` in the environment
before ``import detector`` (the Python API: the policy cannot change once torch is loaded) turns
busy-waiting on, for lower latency on an otherwise idle CPU. ONNX Runtime has its own switch
(``session_options``); OpenVINO's and OpenCV's pools have none and keep their defaults.
"""
from __future__ import annotations

import os
import sys
import warnings

POLICY_ENV, SPIN_ENV = "OMP_WAIT_POLICY", "CSPDET_SPIN"


def spin_requested() -> bool:
    return os.environ.get(SPIN_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def set_default_policy() -> None:
    """PASSIVE (ACTIVE with ``CSPDET_SPIN=1``) unless ``OMP_WAIT_POLICY`` is set already."""
    if POLICY_ENV not in os.environ:
        os.environ[POLICY_ENV] = "ACTIVE" if spin_requested() else "PASSIVE"


def request_spin() -> bool:
    """Busy-waiting for PyTorch from now on (the ``--spin`` flag outranks an inherited
    ``OMP_WAIT_POLICY``), when torch is not loaded yet; False when it is too late."""
    if "torch" not in sys.modules:
        os.environ[POLICY_ENV] = "ACTIVE"
    return torch_spins()


def torch_spins() -> bool:
    return os.environ.get(POLICY_ENV, "").strip().upper() == "ACTIVE"


def warn_if_passive() -> None:
    """``spin=True`` on a torch model after torch started with passive threads."""
    if not torch_spins():
        warnings.warn(f"spin: PyTorch's threads wait passively ({POLICY_ENV}="
                      f"{os.environ.get(POLICY_ENV, 'unset')} when torch was loaded); set {SPIN_ENV}=1 before "
                      "importing detector (or use the --spin flag) to make them busy-wait", stacklevel=4)
