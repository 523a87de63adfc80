"""Inference: backends, the predictor, sources and sinks, the streaming pipeline. The geometry
they share with training (letterbox, decoding, NMS) lives in ``detector.geometry``."""
