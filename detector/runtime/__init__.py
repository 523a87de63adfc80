"""Pre- and post-processing shared by every runtime: letterbox, YOLO decoding, NMS."""
from .decode import HeadSpec, YOLODecoder, decode, level_constants
from .letterbox import LetterboxInfo, letterbox, letterbox_boxes, preprocess, scale_boxes
from .nms import Detections, box_iou, nms, postprocess, xywh2xyxy

__all__ = ["Detections", "HeadSpec", "LetterboxInfo", "YOLODecoder", "box_iou", "decode", "letterbox",
           "letterbox_boxes", "level_constants", "nms", "postprocess", "preprocess", "scale_boxes",
           "xywh2xyxy"]
