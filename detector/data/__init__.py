"""Training data: dataset YAMLs, YOLO/COCO datasets, augmentation, loaders, synthetic data.

``build_dataset(yaml, split)`` -> ``create_dataloader(dataset, batch_size)`` yields
``(images [B, 3, H, W], targets [M, 6] = (batch_index, class, cx, cy, w, h), metas)``.

Names resolve lazily (PEP 562), so ``from detector.data.coco import COCO_NAMES`` (used by the
model configs and runtimes) does not import torch or OpenCV.
"""
from importlib import import_module

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
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value  # resolve once
        return value
    raise AttributeError(f"module 'detector.data' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
