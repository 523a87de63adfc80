"""Models: backbones, necks and heads joined by declared feature specs."""
from .backbones import BACKBONES, build_classifier
from .config import ModelConfig, config_from_dict, load_config
from .detector import YOLODetector, build_model
from .heads import HEADS
from .necks import NECKS
from .profile import Profile, profile_model
from .specs import FeatureSpec

__all__ = ["BACKBONES", "NECKS", "HEADS", "FeatureSpec", "ModelConfig", "Profile", "YOLODetector",
           "build_classifier", "build_model", "config_from_dict", "load_config", "profile_model"]
