"""INT8 and FP16 variants of an exported ONNX model, for ``cspdet export --int8`` / ``--half``.

Both keep the file's cspdet metadata (names, anchors, letterbox), so every backend loads the
result like the FP32 export, and both keep float32 inputs and outputs.

INT8 is ONNX Runtime's static quantization in QDQ format, weights per output channel,
activation ranges calibrated on letterboxed images. The box decoder after the last convs
stays float: its output mixes pixels (hundreds) and probabilities (0..1) in one tensor, which a
single int8 scale would flatten to zeros. So do the head's last convs: on the trained shapes
model they cost 0.016 AP in int8 (AP 0.540 against FP32's 0.556; 0.556 with them float), for
1-3% of a model's multiply-adds (1.3% there, 1.0% in YOLOv4, 2.4% in YOLOv3-tiny).

Every scale of the result is checked before it is written: a calibration that met an infinite
or NaN activation stops with the tensor's name, never leaving a model that detects nothing.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np

from ..geometry.letterbox import as_hw, preprocess
from ..io.files import atomic_output
from ..io.images import ImageError, images_in, read_image
from .graph import constant_tensors, consumers, default_opset
from .onnx import read_metadata


def _metadata_size(proto) -> tuple[int, int] | None:
    """(h, w) from the cspdet metadata, else from a static input shape, else None."""
    size = read_metadata(proto).get("img_size")
    if size:
        return int(size[0]), int(size[-1])
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    hw = [d.dim_value for d in dims[2:4]] if len(dims) == 4 else []
    return tuple(hw) if len(hw) == 2 and all(hw) else None


class LetterboxCalibration:
    """ORT CalibrationDataReader over image files: each ``get_next()`` is {input: blob} of
    ``batch`` letterboxed images, None at the end."""

    def __init__(self, paths: list[Path], img_size: tuple[int, int], input_name: str, batch: int = 1):
        self.paths, self.size, self.input_name, self.batch = paths, img_size, input_name, batch
        self._it, self._checked = self._blobs(), False

    def _blobs(self) -> Iterator[dict]:
        images, seen, flat, used = [], set(), 0, 0
        for path in self.paths:
            try:
                img = read_image(path)
            except ImageError as e:  # one bad file must not end a long calibration
                warnings.warn(f"{e}; left out of the calibration", stacklevel=2)
                continue
            images.append(img)
            seen.add(hashlib.sha1(img.tobytes()).digest())
            flat += int(img.max()) - int(img.min()) < FLAT_RANGE
            used += 1
            if len(images) == self.batch:  # a last, partial batch is dropped
                yield {self.input_name: preprocess(images, self.size)[0]}
                images = []
        if not self._checked:  # once, not on every rewind
            self._checked = True
            warn_degenerate(used, len(seen), flat, self.paths[0].parent if self.paths else None)

    def get_next(self) -> dict | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = self._blobs()


# An image whose pixel values span less than this is one flat colour (all black, a blank frame).
FLAT_RANGE = 8


def warn_degenerate(used: int, distinct: int, flat: int, where) -> None:
    """Warn when the calibration images cannot show the activation ranges real images reach:
    the same picture repeated, or flat colours, whose ranges are near zero everywhere."""
    if used and distinct < min(used, MIN_CALIBRATION):
        warnings.warn(f"calibrating on {used} image(s) of {where}, but only {distinct} distinct (the same picture "
                      "repeated): the activation ranges come from those alone, costing accuracy on others",
                      stacklevel=3)
    if flat:
        warnings.warn(f"{flat} of the {used} calibration image(s) in {where} are one flat colour (all black?): "
                      "they add no activation range; calibrate on pictures like those the model will see",
                      stacklevel=3)


def decoder_nodes(graph) -> list[str]:
    """Names of the nodes after the last convolutions (no Conv downstream): the box decoder."""
    nodes = list(graph.node)
    readers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            readers.setdefault(name, []).append(i)
    feeds_conv = [False] * len(nodes)
    for i in reversed(range(len(nodes))):  # exporters write nodes in topological order
        feeds_conv[i] = any(nodes[c].op_type == "Conv" or feeds_conv[c]
                            for out in nodes[i].output for c in readers.get(out, []))
    return [n.name for n, f in zip(nodes, feeds_conv) if n.op_type != "Conv" and not f]


def head_convs(graph) -> list[str]:
    """Names of the head's last convolutions: the Conv nodes read only by the decoder (or, in a
    raw export, only as graph outputs)."""
    decoder, readers = set(decoder_nodes(graph)), consumers(graph)
    return [n.name for n in graph.node if n.op_type == "Conv"
            and all(r is None or r.name in decoder for r in readers[n.output[0]])]


# The smallest normal float32 scale, and the widest range (255 steps) an activation of a working
# network reaches: a wider one comes from a -FLT_MAX pad or an overflow and rounds every ordinary
# value to the zero point.
MIN_SCALE, MAX_RANGE = float(np.finfo(np.float32).tiny), 1e6


def _quantized_tensor(node) -> str:
    """The float tensor that a QuantizeLinear / DequantizeLinear node stands for."""
    name = node.input[0]
    return name[:-len("_quantized")] if name.endswith("_quantized") else name


def check_scales(proto, source) -> None:
    """Raise ValueError (one line, naming the first tensor) when a scale of ``proto``'s Q/DQ
    nodes is infinite, NaN, zero or subnormal, or spans more than MAX_RANGE.

    Zero points need no check of their own: each is stored in its 8-bit type, and a wrong one only
    ever comes from a wrong scale (ORT rounds ``qmin - min / scale``; NaN casts to any integer).
    """
    from onnx import numpy_helper

    consts = constant_tensors(proto.graph)
    bad: dict[str, float] = {}
    for node in proto.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or node.input[1] not in consts:
            continue
        scale = np.atleast_1d(numpy_helper.to_array(consts[node.input[1]])).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            wrong = ~np.isfinite(scale) | (scale < MIN_SCALE) | (scale * 255 > MAX_RANGE)
        if wrong.any():
            bad.setdefault(_quantized_tensor(node), float(scale[wrong][0]))
    if bad:
        name, value = next(iter(bad.items()))
        raise ValueError(f"{source}: INT8 calibration gave {len(bad)} tensor(s) an unusable scale, first "
                         f"{name!r}: {value:g} (an activation range that is infinite, NaN or empty on the "
                         "calibration images); no INT8 file written")


PER_CHANNEL_OPSET = 13  # DequantizeLinear's per-channel ``axis`` appeared in opset 13
# Fewer calibration images than this give ranges that later images exceed: the shapes model lost
# 0.005 AP50 calibrated on 8 images, nothing on 32 or 100.
MIN_CALIBRATION = 32


def _at_least_opset(proto, opset: int):
    """``proto`` converted up to ``opset`` when its default domain is older."""
    import onnx

    current = default_opset(proto, opset)
    return onnx.version_converter.convert_version(proto, opset) if current < opset else proto


def _named(proto) -> bool:
    """Give every node a name (the quantizer's exclusion list works by name); True if one lacked it."""
    renamed = False
    for i, node in enumerate(proto.graph.node):
        if not node.name:
            node.name, renamed = f"{node.op_type}_{i}", True
    return renamed


def _calibration_images(calib_dir, n: int) -> list[Path]:
    if not Path(calib_dir).is_dir():
        raise FileNotFoundError(f"calib_dir {calib_dir}: no such folder")
    paths = images_in(Path(calib_dir))[:n]
    if not paths:
        raise ValueError(f"calib_dir {calib_dir}: no images found")
    if len(paths) < MIN_CALIBRATION:
        warnings.warn(f"calibrating on {len(paths)} image(s) of {calib_dir}: with fewer than {MIN_CALIBRATION} "
                      "the activation ranges may miss values that other images reach, costing accuracy",
                      stacklevel=3)
    return paths


def _prepare(original, tmp: Path):
    """(the file to quantize, its graph): ``original`` at opset >= 13, through ORT's pre-pass (it
    folds the Identity nodes through which the exporter shares equal biases, so those convs fuse
    too, and fills in shapes), every node named."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    staged, prepared = tmp / "opset.onnx", tmp / "prepared.onnx"
    proto = _at_least_opset(original, PER_CHANNEL_OPSET)
    _named(proto)
    onnx.save(proto, str(staged))
    quant_pre_process(str(staged), str(prepared), skip_symbolic_shape=True)
    proto = onnx.load(str(prepared))
    if _named(proto):  # nodes the pre-pass made
        onnx.save(proto, str(prepared))
    return prepared, proto.graph


def quantize_int8(onnx_in: str | Path, onnx_out: str | Path, calib_dir: str | Path,
                  img_size: int | tuple[int, int] | None = None, n: int = 100, reduce_range: bool = False,
                  float_head: bool = True) -> Path:
    """Write an INT8 (QDQ, per-channel, opset >= 13) copy of ``onnx_in`` calibrated on up to ``n``
    images of ``calib_dir``, letterboxed to ``img_size`` (default: the model's); returns ``onnx_out``.

    Activations are uint8 and weights int8 (U8S8): x86 ONNX Runtime fuses only that pairing
    into QLinearConv (measured: every conv fused and 1.5x FP32's speed, where int8 activations
    left 54 of 130 convs in float behind Dequantize nodes and ran 1.9x slower than FP32). Pass
    ``reduce_range`` (7-bit weights) for x86 CPUs without VNNI, whose U8S8 kernels can saturate.
    ``float_head`` keeps the head's last convs float (see the module docstring). Warns below
    MIN_CALIBRATION images; ValueError, writing nothing, when a scale is unusable (``check_scales``).
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    onnx_in, onnx_out = Path(onnx_in), Path(onnx_out)
    if not onnx_in.is_file():
        raise FileNotFoundError(f"onnx_in {onnx_in}: no such file")
    paths = _calibration_images(calib_dir, n)
    original = onnx.load(str(onnx_in))
    size = as_hw(img_size, "img_size") if img_size else _metadata_size(original)
    if size is None:
        raise ValueError(f"{onnx_in}: dynamic input size and no img_size given")
    with tempfile.TemporaryDirectory(prefix="cspdet-int8-") as tmp, atomic_output(onnx_out) as out:
        prepared, graph = _prepare(original, Path(tmp))
        dim0 = graph.input[0].type.tensor_type.shape.dim[0]
        batch = dim0.dim_value if dim0.HasField("dim_value") and dim0.dim_value > 0 else 1
        excluded = decoder_nodes(graph) + (head_convs(graph) if float_head else [])
        with warnings.catch_warnings():
            # numpy's notes on the NaN a non-finite range gives; check_scales names the tensor instead
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"onnxruntime\.quantization")
            quantize_static(str(prepared), str(out), LetterboxCalibration(paths, size, graph.input[0].name, batch),
                            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=reduce_range,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=excluded, calibrate_method=CalibrationMethod.MinMax)
        proto = onnx.load(str(out))
        check_scales(proto, onnx_in)
        onnx.checker.check_model(proto)
        del proto.metadata_props[:]
        proto.metadata_props.extend(original.metadata_props)
        for key, value in {"precision": "int8-qdq", "calibration_images": str(len(paths))}.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(out))
    return onnx_out


def convert_fp16(onnx_in: str | Path, onnx_out: str | Path) -> Path:
    """Write a float16 copy of ``onnx_in`` (weights and activations; inputs and outputs stay
    float32, so pre/post-processing is unchanged); returns ``onnx_out``."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx_in, onnx_out = Path(onnx_in), Path(onnx_out)
    if not onnx_in.is_file():
        raise FileNotFoundError(f"onnx_in {onnx_in}: no such file")
    proto = onnx.load(str(onnx_in))
    half = convert_float_to_float16(proto, keep_io_types=True)
    half.metadata_props.add(key="precision", value="fp16")
    with atomic_output(onnx_out) as out:
        onnx.save(half, str(out))
    return onnx_out


__all__ = ["LetterboxCalibration", "check_scales", "convert_fp16", "decoder_nodes", "head_convs",
           "quantize_int8"]
