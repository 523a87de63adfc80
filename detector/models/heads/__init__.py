"""Head factories by name."""
from .yolo import YOLOHead, YOLOV3_ANCHORS

HEADS = {"yolo": YOLOHead}

__all__ = ["HEADS", "YOLOHead", "YOLOV3_ANCHORS"]
