"""Which section types and keys a Darknet ``.cfg`` may use.

The sets mirror what AlexeyAB darknet's ``src/parser.c`` reads for each section type, so a cfg
that Darknet accepts parses here too, while a misspelt key is caught instead of being silently
ignored (Darknet only prints "Unused field"). Keys that matter only for training are accepted
and ignored; keys whose non-default values change inference in ways this package does not
implement are listed in ``UNSUPPORTED_IF_SET`` and refused by the model builder.
"""
from __future__ import annotations

# Read by parser.c for every layer section, whatever its type.
_COMMON = frozenset({
    "clip", "onlyforward", "dont_update", "burnin_update", "stopbackward", "train_only_bn",
    "dontload", "dontloadscales", "learning_rate",
})

NET_KEYS = frozenset({
    # parse_net_options (AlexeyAB), plus pjreddie-era keys still found in published cfgs.
    "max_batches", "batch", "learning_rate", "learning_rate_min", "sgdr_cycle", "sgdr_mult",
    "momentum", "decay", "subdivisions", "time_steps", "track", "augment_speed",
    "sequential_subdivisions", "try_fix_nan", "weights_reject_freq", "equidistant_point",
    "badlabels_rejection_percentage", "num_sigmas_reject_badlabels", "ema_alpha",
    "use_cuda_graph", "loss_scale", "dynamic_minibatch", "optimized_memory",
    "workspace_size_limit_MB", "adam", "B1", "B2", "eps", "height", "width", "channels",
    "inputs", "max_crop", "min_crop", "flip", "blur", "gaussian_noise", "mixup", "cutmix",
    "mosaic", "letter_box", "mosaic_bound", "contrastive", "contrastive_jit_flip",
    "contrastive_color", "unsupervised", "label_smooth_eps", "resize_step", "attention",
    "adversarial_lr", "max_chart_loss", "angle", "aspect", "saturation", "exposure", "hue",
    "power", "policy", "burn_in", "step", "scale", "steps", "scales", "seq_scales", "gamma",
    "show_receptive_field", "notruth", "random", "max_ratio", "min_ratio", "center", "clip",
})

LAYER_KEYS: dict[str, frozenset[str]] = {
    "convolutional": _COMMON | {
        "filters", "groups", "size", "stride", "stride_x", "stride_y", "dilation",
        "antialiasing", "pad", "padding", "activation", "assisted_excitation", "share_index",
        "batch_normalize", "cbn", "binary", "xnor", "bin_output", "sway", "rotate", "stretch",
        "stretch_sway", "flipped", "dot", "angle", "grad_centr", "reverse", "coordconv",
        "stream", "wait_stream",
    },
    "connected": _COMMON | {"output", "activation", "batch_normalize"},
    "maxpool": _COMMON | {
        "stride", "stride_x", "stride_y", "size", "padding", "maxpool_depth", "out_channels",
        "antialiasing", "maxpool_zero_nonmax",
    },
    "avgpool": _COMMON,
    "softmax": _COMMON | {"groups", "temperature", "tree", "spatial", "noloss"},
    "route": _COMMON | {"layers", "groups", "group_id", "stream", "wait_stream"},
    "shortcut": _COMMON | {"from", "activation", "weights_type", "weights_normalization"},
    "upsample": _COMMON | {"stride", "scale"},
    "yolo": _COMMON | {
        "classes", "num", "mask", "anchors", "max", "show_details", "max_delta",
        "counters_per_class", "label_smooth_eps", "scale_x_y", "objectness_smooth",
        "new_coords", "iou_normalizer", "obj_normalizer", "cls_normalizer", "delta_normalizer",
        "iou_loss", "iou_thresh_kind", "beta_nms", "nms_kind", "jitter", "resize", "focal_loss",
        "ignore_thresh", "truth_thresh", "iou_thresh", "random", "track_history_size",
        "sim_thresh", "dets_for_track", "dets_for_show", "track_ciou_norm", "embedding_layer",
        "map",
    },
    "sam": _COMMON | {"from", "activation"},
    "scale_channels": _COMMON | {"from", "scale_wh", "activation"},
    "dropout": _COMMON | {"probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs"},
    "reorg": _COMMON | {"stride", "reverse"},
}

# Darknet's alternative spellings of section headers (string_to_layer_type in parser.c).
ALIASES = {
    "conv": "convolutional", "conn": "connected", "max": "maxpool", "avg": "avgpool",
    "soft": "softmax", "network": "net",
}

# Section types Darknet knows but this importer does not implement.
UNSUPPORTED_TYPES = frozenset({
    "local", "crop", "cost", "detection", "region", "Gaussian_yolo", "activation", "crnn",
    "gru", "lstm", "conv_lstm", "history", "rnn", "local_avg", "local_avgpool", "reorg3d",
    "lrn", "normalization", "batchnorm", "contrastive", "empty", "silence", "implicit",
})

# Keys whose values change inference in ways not implemented here, mapped to the one value that
# is harmless (Darknet's default); None means the key must not appear at all.
UNSUPPORTED_IF_SET: dict[str, dict[str, str | None]] = {
    "convolutional": {"binary": "0", "xnor": "0", "antialiasing": "0", "flipped": "0",
                      "coordconv": "0", "share_index": None},
    "maxpool": {"antialiasing": "0"},
    "softmax": {"tree": None, "spatial": "0"},
    "reorg": {"reverse": "0"},
}
