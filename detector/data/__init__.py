"""Training data: dataset YAMLs, YOLO/COCO datasets, augmentation, loaders, synthetic data.

``build_dataset(yaml, split)`` -> ``create_dataloader(dataset, batch_size)`` yields
``(images [B, 3, H, W], targets [M, 6] = (batch_index, class, cx, cy, w, h), metas)``.

Names resolve lazily (PEP 562), so ``from detector.data.coco import COCO_NAMES`` (used by the
model configs and runtimes) does not import torch or OpenCV.
"""
from ..lazy import lazy_exports

_EXPORTS = {
    "augment": ["AugmentConfig", "box_candidates", "hflip", "mosaic4", "random_affine"],
    "coco": ["COCO_NAMES"],
    "cocojson": ["CocoIndex", "load_coco"],
    "config": ["CocoSplit", "DataConfig", "load_data_config"],
    "datasets": ["DetectionDataset", "ImageMeta", "ItemKey", "build_dataset", "yolo_records"],
    "labels": ["ImageRecord", "LabelWarning", "img2label_path"],
    "loader": ["DetectionBatchSampler", "DetectionLoader", "SeededSampler", "collate", "create_dataloader",
               "multi_scale_sizes"],
    "synthetic": ["make_demo_images", "make_demo_video", "make_synthetic_dataset"],
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
