"""Training objective and evaluation: the YOLO loss with Darknet's assignment, COCO metrics, PR curves.

Names resolve lazily (PEP 562), so ``detector.engine.config`` (``TrainConfig``, read by
``cspdet train --help``) loads without torch.
"""
from ..lazy import lazy_exports

_EXPORTS = {
    "assign": ["LevelTargets", "assign_targets", "check_targets"],
    "evaluate": ["AP_KEYS", "AR_KEYS", "category_ids_of", "coco_eval", "coco_evaluate", "coco_gt_to_yolo",
                 "detections_to_coco", "format_table", "load_coco", "per_class_ap", "pr_curve", "read_yolo_labels",
                 "yolo_to_coco_gt"],
    "loss": ["YOLOLoss", "decode_cells", "head_spec"],
    "metrics": ["PRCurves", "ap_per_class", "match_detections"],
    "plots": ["plot_confusion_matrix", "plot_metric_curve", "plot_pr_curve"],
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
