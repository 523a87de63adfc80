"""Training objective and evaluation: the YOLO loss with Darknet's assignment, COCO metrics, PR curves."""
from .assign import LevelTargets, assign_targets, check_targets
from .evaluate import (AP_KEYS, AR_KEYS, category_ids_of, coco_eval, coco_evaluate, coco_gt_to_yolo, detections_to_coco,
                       format_table, load_coco, per_class_ap, pr_curve, read_yolo_labels, yolo_to_coco_gt)
from .loss import YOLOLoss, decode_cells, head_spec
from .metrics import PRCurves, ap_per_class, match_detections
from .plots import plot_confusion_matrix, plot_metric_curve, plot_pr_curve

__all__ = ["AP_KEYS", "AR_KEYS", "LevelTargets", "PRCurves", "YOLOLoss", "ap_per_class", "assign_targets",
           "category_ids_of", "check_targets", "coco_eval", "coco_evaluate", "coco_gt_to_yolo",
           "decode_cells", "detections_to_coco", "format_table", "head_spec", "load_coco", "match_detections",
           "per_class_ap", "plot_confusion_matrix", "plot_metric_curve", "plot_pr_curve", "pr_curve",
           "read_yolo_labels", "yolo_to_coco_gt"]
