"""Model compression that produces ordinary models: structured pruning (``prune``) to a normal
checkpoint every backend loads. (INT8 and reduced precision live with export, ``detector.export``.)
Torch-Pruning is imported on first use: ``pip install "cspdet[prune]"``."""
from .prune import PruneResult, prune_model

__all__ = ["PruneResult", "prune_model"]
