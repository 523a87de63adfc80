"""cspdet: real-time CSPNet object detectors.

``from detector import Detector`` is resolved lazily, so ``import detector`` stays light.
PyTorch's threads wait passively unless asked otherwise (``detector.waiting``): set here,
before anything of the package imports torch.
"""
from .waiting import set_default_policy as _set_default_policy

_set_default_policy()
from .version import __version__  # noqa: E402  (after the wait policy, before torch)

__all__ = ["Detector", "__version__"]


def __getattr__(name):
    if name == "Detector":
        from .runtime.predictor import Detector

        return Detector
    raise AttributeError(f"module 'detector' has no attribute {name!r}")
