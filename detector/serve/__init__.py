"""The detection service behind ``cspdet serve`` (``pip install "cspdet[serve]"``).

``config`` holds the limits (no optional package); ``batching`` gathers concurrent images into
batches for one inference thread; ``service`` turns request bytes into detections through the
runtime's ``Detector`` (its preprocess, infer and postprocess, never a copy of them); ``streams``
follows cameras and video streams; ``guards`` holds the ASGI middlewares and the HTTP protocol
limits; ``app`` is the FastAPI application and ``server`` runs it under uvicorn. FastAPI and
uvicorn are imported by ``app``, ``guards`` and ``server`` only, so ``import detector`` needs
neither.
"""
