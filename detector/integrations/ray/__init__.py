"""Detection on Ray Data: ``BatchPredictor`` (images) and ``VideoPredictor`` (one video per call)
are callable classes for ``Dataset.map_batches``, one ``Detector`` per actor; ``job`` is what
``cspdet batch`` runs on a cluster. Install with ``pip install "cspdet[ray]"``; importing this
package imports neither Ray nor pyarrow (the actors and the job do)."""
from .predictor import BatchPredictor
from .video import VideoPredictor

__all__ = ["BatchPredictor", "VideoPredictor"]
