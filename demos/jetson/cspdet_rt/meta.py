"""What the runtime needs to know about a model, read without the cspdet package.

``cspdet export`` stores class names, anchors, strides, scale_x_y, the input size and the
letterbox convention in the ONNX file's metadata_props. On the device they come from, in order:
the JSON sidecar ``<model>.json`` (``model.engine.json`` beside a TensorRT engine, which carries
no metadata; written by build_engine.sh), the ``onnx`` package if it is installed, or the small
protobuf reader below, which needs nothing beyond the standard library.

Python 3.6 (JetPack 4.6): no dataclasses, no walrus, no ``from __future__ import annotations``.
"""
import json
import os

# Keys whose values are JSON text in the ONNX file; the same tuple as JSON_KEYS in the package's
# detector/export/onnx.py (tests/jetson keeps the two equal).
JSON_KEYS = ("names", "category_ids", "strides", "anchors", "scale_x_y", "num_classes", "new_coords", "img_size",
             "letterbox", "config", "output_names", "dynamic", "batch", "nms_kind", "beta_nms")
# Field numbers in onnx.proto: ModelProto.metadata_props = 14, StringStringEntryProto.key = 1, value = 2.
METADATA_PROPS, ENTRY_KEY, ENTRY_VALUE = 14, 1, 2
# nms_kind values -> the overlap NMS compares; the same table as NMS_KINDS in the package's
# detector/geometry/nms.py (tests/jetson keeps the two equal).
NMS_KINDS = {"iou": "iou", "greedynms": "iou", "default": "iou", "diou": "diou", "diounms": "diou"}
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def _varint(read):
    """Decode one base-128 varint, reading a byte at a time with ``read(1)``; None at a clean EOF."""
    shift = value = 0
    while True:
        b = read(1)
        if not b:
            if shift:
                raise ValueError("truncated varint")
            return None
        value |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(f, size, wanted):
    """Yield (field number, bytes or None) for each field of the message in file ``f`` (``size``
    bytes): the payload of length-delimited fields numbered in ``wanted``, None for the rest,
    which are skipped without being read."""
    while f.tell() < size:
        tag = _varint(f.read)
        if tag is None:
            return
        number, wire = tag >> 3, tag & 7
        if wire == VARINT:
            _varint(f.read)
            yield number, None
        elif wire in (FIXED64, FIXED32):
            f.seek(8 if wire == FIXED64 else 4, 1)
            yield number, None
        elif wire == LENGTH:
            n = _varint(f.read)
            if n is None or f.tell() + n > size:
                raise ValueError("field {} runs past the end of the data".format(number))
            if number in wanted:
                yield number, f.read(n)
            else:
                f.seek(n, 1)  # the graph: up to hundreds of MB of weights, never read
                yield number, None
        else:
            raise ValueError("wire type {} (field {}) is not valid here: not an ONNX file?".format(wire, number))


def _entry(data):
    """A serialized StringStringEntryProto -> (key, value)."""
    import io

    found = dict(_fields(io.BytesIO(data), len(data), (ENTRY_KEY, ENTRY_VALUE)))
    return (found.get(ENTRY_KEY) or b"").decode("utf-8"), (found.get(ENTRY_VALUE) or b"").decode("utf-8")


def onnx_metadata_props(path):
    """metadata_props of the ONNX file at ``path`` as {key: string}, read with the standard
    library only: the top-level fields are walked and the graph is skipped, not parsed."""
    size = os.path.getsize(path)
    props = {}
    with open(path, "rb") as f:
        for number, data in _fields(f, size, (METADATA_PROPS,)):
            if number == METADATA_PROPS:
                key, value = _entry(data)
                props[key] = value
    return props


def parse_props(props):
    """Strings as stored -> values, JSON decoded for JSON_KEYS (as detector.export.read_metadata)."""
    return {k: json.loads(v) if k in JSON_KEYS and isinstance(v, str) else v for k, v in props.items()}


def sidecar_path(model_path):
    return str(model_path) + ".json"


def read_props(model_path, use_onnx=True):
    """metadata_props of an .onnx file, through the onnx package when importable."""
    if use_onnx:
        try:
            import onnx
        except ImportError:
            pass
        else:
            proto = onnx.load(str(model_path), load_external_data=False)
            return {p.key: p.value for p in proto.metadata_props}
    return onnx_metadata_props(str(model_path))


def load_metadata(model_path, use_onnx=True):
    """The model's metadata as a dict (JSON decoded): the sidecar if there is one, else the
    ONNX file's own; an engine without a sidecar is an error naming the file to create."""
    model_path = str(model_path)
    side = sidecar_path(model_path)
    if os.path.isfile(side):
        with open(side) as f:
            meta = json.load(f)  # written decoded (write_sidecar): a string value such as nms_kind stays one
        if not isinstance(meta, dict):
            raise ValueError("{}: not a metadata sidecar (a JSON object)".format(side))
        return meta
    if model_path.lower().endswith(".onnx"):
        return parse_props(read_props(model_path, use_onnx))
    raise FileNotFoundError("{}: no metadata sidecar {} (build the engine with build_engine.sh, or run "
                            "cspdet_jetson.py --write-sidecar {} --model MODEL.onnx)".format(model_path, side, side))


def write_sidecar(onnx_path, out_path, use_onnx=True):
    """Write the ONNX file's metadata as JSON to ``out_path`` (for an engine built from it)."""
    meta = parse_props(read_props(onnx_path, use_onnx))
    if "strides" not in meta or "anchors" not in meta:
        raise ValueError("{}: no cspdet metadata (export it with `cspdet export`)".format(onnx_path))
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, out_path)
    return out_path


class ModelInfo(object):
    """Decoding and pre-processing settings for one model, from its metadata dict."""

    def __init__(self, meta, source="model"):
        missing = [k for k in ("strides", "anchors", "num_classes", "img_size") if k not in meta]
        if missing:
            raise ValueError("{}: metadata lacks {} (export with `cspdet export`)".format(source, ", ".join(missing)))
        self.strides = [int(s) for s in meta["strides"]]
        self.anchors = [[(float(p[0]), float(p[1])) for p in level] for level in meta["anchors"]]
        self.scale_x_y = [float(k) for k in meta.get("scale_x_y") or [1.0] * len(self.strides)]
        self.num_classes = int(meta["num_classes"])
        self.new_coords = bool(meta.get("new_coords", False))
        self.names = list(meta.get("names") or ["class{}".format(i) for i in range(self.num_classes)])
        self.img_size = (int(meta["img_size"][0]), int(meta["img_size"][1]))
        self.letterbox = dict(meta.get("letterbox") or {})
        self.raw = meta.get("output_format") == "raw"
        self.output_names = list(meta.get("output_names") or ["output"])
        # Darknet's cfg decides the NMS overlap (YOLOv4: diounms); an unknown kind is refused, not run as IoU
        kind = str(meta.get("nms_kind") or "iou")
        if kind not in NMS_KINDS:
            raise ValueError("{}: nms_kind {!r} is not one of {} (export it again with this cspdet)"
                             .format(source, kind, ", ".join(NMS_KINDS)))
        self.nms_kind = NMS_KINDS[kind]
        self.beta_nms = float(meta.get("beta_nms") or 1.0)
        if meta.get("dynamic"):
            raise ValueError("{}: exported with --dynamic; export a static model (cspdet export --target jetson)"
                             .format(source))
