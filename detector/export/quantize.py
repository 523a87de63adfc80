"""INT8 and FP16 variants of an exported ONNX model, for ``cspdet export --int8`` / ``--half``.

Both keep the file's cspdet metadata (names, anchors, letterbox), so every backend loads the
result like the FP32 export, and both keep float32 inputs and outputs.

INT8 is ONNX Runtime's static quantization in QDQ format, weights per output channel,
activation ranges calibrated on letterboxed images. The box decoder after the last convs
stays float: its output mixes pixels (hundreds) and probabilities (0..1) in one tensor, which a
single int8 scale would flatten to zeros.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterator

from ..geometry.letterbox import as_hw, preprocess
from ..io.files import atomic_output
from ..io.images import ImageError, images_in, read_image
from .graph import default_opset
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
        self._it = self._blobs()

    def _blobs(self) -> Iterator[dict]:
        images = []
        for path in self.paths:
            try:
                images.append(read_image(path))
            except ImageError as e:  # one bad file must not end a long calibration
                warnings.warn(f"{e}; left out of the calibration", stacklevel=2)
                continue
            if len(images) == self.batch:  # a last, partial batch is dropped
                yield {self.input_name: preprocess(images, self.size)[0]}
                images = []

    def get_next(self) -> dict | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = self._blobs()


def decoder_nodes(graph) -> list[str]:
    """Names of the nodes after the last convolutions (no Conv downstream): the box decoder."""
    nodes = list(graph.node)
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(i)
    feeds_conv = [False] * len(nodes)
    for i in reversed(range(len(nodes))):  # exporters write nodes in topological order
        feeds_conv[i] = any(nodes[c].op_type == "Conv" or feeds_conv[c]
                            for out in nodes[i].output for c in consumers.get(out, []))
    return [n.name for n, f in zip(nodes, feeds_conv) if n.op_type != "Conv" and not f]


PER_CHANNEL_OPSET = 13  # DequantizeLinear's per-channel ``axis`` appeared in opset 13


def _at_least_opset(proto, opset: int):
    """``proto`` converted up to ``opset`` when its default domain is older."""
    import onnx

    current = default_opset(proto, opset)
    return onnx.version_converter.convert_version(proto, opset) if current < opset else proto


def _named(proto):
    """Give every node a name (the quantizer's exclusion list works by name)."""
    for i, node in enumerate(proto.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    return proto


def _copy_metadata(src, dst_path: Path, extra: dict[str, str]) -> None:
    import onnx

    out = onnx.load(str(dst_path))
    del out.metadata_props[:]
    for p in src.metadata_props:
        out.metadata_props.add(key=p.key, value=p.value)
    for k, v in extra.items():
        out.metadata_props.add(key=k, value=v)
    onnx.save(out, str(dst_path))


def quantize_int8(onnx_in: str | Path, onnx_out: str | Path, calib_dir: str | Path,
                  img_size: int | tuple[int, int] | None = None, n: int = 100, reduce_range: bool = False) -> Path:
    """Write an INT8 (QDQ, per-channel) copy of ``onnx_in`` calibrated on up to ``n`` images of
    ``calib_dir``, letterboxed to ``img_size`` (default: the model's); returns ``onnx_out``.

    Activations are uint8 and weights int8 (U8S8): x86 ONNX Runtime fuses only that pairing
    into QLinearConv (measured: every conv fused and 1.5x FP32's speed, where int8 activations
    left 54 of 130 convs in float behind Dequantize nodes and ran 1.9x slower than FP32). Pass
    ``reduce_range`` (7-bit weights) for x86 CPUs without VNNI, whose U8S8 kernels can saturate.
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_in, onnx_out = Path(onnx_in), Path(onnx_out)
    if not onnx_in.is_file():
        raise FileNotFoundError(f"onnx_in {onnx_in}: no such file")
    if not Path(calib_dir).is_dir():
        raise FileNotFoundError(f"calib_dir {calib_dir}: no such folder")
    paths = images_in(Path(calib_dir))[:n]
    if not paths:
        raise ValueError(f"calib_dir {calib_dir}: no images found")
    original = onnx.load(str(onnx_in))
    size = as_hw(img_size, "img_size") if img_size else _metadata_size(original)
    if size is None:
        raise ValueError(f"{onnx_in}: dynamic input size and no img_size given")
    with tempfile.TemporaryDirectory(prefix="cspdet-int8-") as tmp, atomic_output(onnx_out) as out:
        staged, prepared = Path(tmp) / "opset.onnx", Path(tmp) / "prepared.onnx"
        onnx.save(_at_least_opset(original, PER_CHANNEL_OPSET), str(staged))
        # ORT's recommended pre-pass: folds the Identity nodes through which the exporter shares
        # equal biases (no conv with such a bias is ever fused) and fills in shapes.
        quant_pre_process(str(staged), str(prepared), skip_symbolic_shape=True)
        proto = _named(onnx.load(str(prepared)))
        onnx.save(proto, str(prepared))
        dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
        batch = dim0.dim_value if dim0.HasField("dim_value") and dim0.dim_value > 0 else 1
        quantize_static(str(prepared), str(out), LetterboxCalibration(paths, size, proto.graph.input[0].name, batch),
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=decoder_nodes(proto.graph), calibrate_method=CalibrationMethod.MinMax)
        _copy_metadata(original, out, {"precision": "int8-qdq", "calibration_images": str(len(paths))})
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


__all__ = ["LetterboxCalibration", "convert_fp16", "decoder_nodes", "quantize_int8"]
