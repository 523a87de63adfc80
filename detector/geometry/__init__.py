"""Geometry shared by training, evaluation, export and every runtime: letterbox, box conversion,
the IoU family, YOLO decoding (numpy and torch) and NMS. It imports nothing else of the package."""
from .boxes import IOU_KINDS, bbox_iou, box_iou, ltwh2xyxy, wh_iou, xywh2xyxy, xyxy2xywh
from .decode import HeadSpec, YOLODecoder, decode, decode_boxes, level_constants
from .letterbox import PAD_VALUE, LetterboxInfo, as_hw, letterbox, letterbox_boxes, preprocess, scale_boxes
from .nms import Detections, nms, postprocess

__all__ = ["IOU_KINDS", "PAD_VALUE", "Detections", "HeadSpec", "LetterboxInfo", "YOLODecoder", "as_hw", "bbox_iou",
           "box_iou", "decode", "decode_boxes", "letterbox", "ltwh2xyxy", "letterbox_boxes", "level_constants", "nms",
           "postprocess", "preprocess", "scale_boxes", "wh_iou", "xywh2xyxy", "xyxy2xywh"]
