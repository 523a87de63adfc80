#!/usr/bin/env bash
# Build a TensorRT FP16 engine from a cspdet ONNX file, on the Jetson that will run it.
#
#   ./build_engine.sh model.onnx                 # -> model.engine + model.engine.json
#   ./build_engine.sh model.onnx out.engine
#   WORKSPACE=2048 ./build_engine.sh model.onnx  # more builder scratch memory, in MB
#
# Export the ONNX on the desktop with `cspdet export --target jetson` (opset 11, static shapes,
# batch 1, FP32). Engines are specific to the TensorRT version and the GPU that built them, so
# this runs on the TX2 itself (JetPack 4.6: TensorRT 8.2, whose trtexec takes --workspace in MB;
# TensorRT >= 8.4 calls it --memPoolSize=workspace:N).
#
# The engine carries no metadata, so the class names, anchors, strides and letterbox settings are
# copied from the ONNX file into <engine>.json, which cspdet_jetson.py reads. The demo's own reader
# does it: it uses the onnx package when installed and otherwise parses the file with the standard
# library, so no extra package is needed on the device.
set -euo pipefail

usage() {
    echo "usage: $0 MODEL.onnx [OUT.engine]   (env: WORKSPACE=MB, TRTEXEC=path, PYTHON=python3)" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
onnx_path=$1
engine_path=${2:-${onnx_path%.onnx}.engine}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-python3}
# The TX2 has 8 GB shared between CPU and GPU. 1024 MB of builder scratch space covers the tactics
# the CSPPeleeNet-sized models want and leaves room for the desktop, the camera and the build
# itself; a tactic that needs more is skipped with a warning, costing a little speed, not the
# build. Use 2048 for the ~60M-parameter CSPDarknet53/CSPResNeXt50 models; much beyond that the
# build itself risks running out of memory.
workspace=${WORKSPACE:-1024}
# JetPack installs trtexec outside PATH.
trtexec=${TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}

if [[ ! -f $onnx_path ]]; then
    echo "build_engine.sh: $onnx_path: no such ONNX file" >&2
    exit 1
fi
if [[ ! -x $trtexec ]]; then
    echo "build_engine.sh: trtexec not found (looked on PATH and at $trtexec); install JetPack's TensorRT" >&2
    exit 1
fi
if ! [[ $workspace =~ ^[0-9]+$ ]]; then
    echo "build_engine.sh: WORKSPACE must be a number of MB, got '$workspace'" >&2
    exit 2
fi

# The sidecar first: it takes a second and refuses a file without cspdet metadata before the
# build, which takes minutes on a TX2.
"$python" "$here/cspdet_jetson.py" "$onnx_path" --write-sidecar "$engine_path.json"

echo "building $engine_path (FP16, workspace ${workspace} MB); this takes a few minutes on a TX2"
"$trtexec" --onnx="$onnx_path" --saveEngine="$engine_path" --fp16 --workspace="$workspace"

if [[ ! -s $engine_path ]]; then
    echo "build_engine.sh: trtexec did not write $engine_path" >&2
    exit 1
fi
echo "engine: $engine_path"
echo "metadata: $engine_path.json"
echo "run: python3 $here/cspdet_jetson.py $engine_path --csi   (or --source 0 for a USB camera)"
