"""``cspdet export``: every model source, the output options, the Jetson target, no overwriting,
and one-line errors. Models are exported at 64 px to stay fast."""
import hashlib

import cv2
import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from detector.cli import main
from detector.export import check_jetson_graph, read_metadata
from detector.models import build_model
from detector.models.checkpoint import save_checkpoint
from detector.models.loading import load_detector
from tests.darknet.helpers import tiny_cfg
from tests.export.helpers import run_ort, torch_decoded

TINY_CFG = tiny_cfg(classes=2)


def dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value_info.type.tensor_type.shape.dim]


def digest(path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("cspdet export: error: ") and "\n" not in err, err
    return err


def test_config_name_to_default_file_name_never_overwritten(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--weights", "csppeleenet-prn", "--img-size", "64"]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "csppeleenet-prn-64.onnx"
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 12  # the default opset
    assert dims(proto.graph.input[0]) == [1, 3, 64, 64]
    assert dims(proto.graph.output[0]) == [1, 3 * (4 * 4 + 2 * 2), 85]
    for text in (f"wrote {path}", "MB", "opset 12", "input images [1, 3, 64, 64]", "output output [1, 60, 85]",
                 "onnx.checker: passed"):
        assert text in out, out
    assert read_metadata(path)["output_format"] != "raw"

    before = digest(path)
    assert main(["export", "--weights", "csppeleenet-prn", "--img-size", "64", "--opset", "11"]) == 2
    assert "csppeleenet-prn-64.onnx exists; pass --force" in one_line_error(capsys)
    assert digest(path) == before
    assert main(["export", "--weights", "csppeleenet-prn", "--img-size", "64", "--opset", "11", "--force"]) == 0
    assert onnx.load(str(path)).opset_import[0].version == 11
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csppeleenet-prn-64.onnx"]  # no temp files left


def test_checkpoint_raw_maps_opset13_non_square(tmp_path, capsys):
    torch.manual_seed(3)
    model = build_model("csppeleenet-prn").eval()
    model.names = [f"thing{i}" for i in range(80)]
    ckpt = save_checkpoint(tmp_path / "trained.pt", model)
    out = tmp_path / "sub" / "m.onnx"
    assert main(["export", "--weights", str(ckpt), "--img-size", "64", "96", "--raw", "--opset", "13",
                 "-o", str(out)]) == 0
    assert "raw0 [1, 255, 4, 6], raw1 [1, 255, 2, 3]" in capsys.readouterr().out  # strides 16, 32
    meta = read_metadata(out)
    assert meta["output_format"] == "raw" and meta["names"][5] == "thing5" and meta["img_size"] == [64, 96]
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        maps = [m.numpy() for m in model(x)]
    for got, ref in zip(run_ort(out, x), maps):  # the checkpoint's weights, not a fresh init
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_dynamic_and_batch(tmp_path, capsys):
    dyn, batch = tmp_path / "dyn.onnx", tmp_path / "b2.onnx"
    assert main(["export", "--weights", "csppeleenet-prn", "--img-size", "64", "--dynamic", "-o", str(dyn)]) == 0
    assert dims(onnx.load(str(dyn)).graph.input[0]) == ["batch", 3, "height", "width"]
    assert read_metadata(dyn)["dynamic"] is True
    assert main(["export", "--weights", "csppeleenet-prn", "--img-size", "64", "--batch", "2", "-o", str(batch)]) == 0
    assert dims(onnx.load(str(batch)).graph.input[0]) == [2, 3, 64, 64]
    assert "input images [2, 3, 64, 64]" in capsys.readouterr().out


def test_darknet_cfg_with_and_without_weights(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(TINY_CFG)
    model = load_detector(cfg)
    with torch.no_grad():  # weights unlike the seeded init, so loading them is visible
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    model.save_darknet_weights(tmp_path / "tiny.weights")

    out = tmp_path / "pair.onnx"
    assert main(["export", "--cfg", str(cfg), "--weights", str(tmp_path / "tiny.weights"), "-o", str(out),
                 "--target", "jetson"]) == 0
    assert "jetson check: passed" in capsys.readouterr().out
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    ref = torch_decoded(model, x)
    np.testing.assert_allclose(run_ort(out, x)[0], ref, rtol=1e-4, atol=1e-3)
    assert read_metadata(out)["num_classes"] == 2

    monkeypatch.chdir(tmp_path)  # a cfg alone: random weights, named after the cfg and its input size
    assert main(["export", "--cfg", str(cfg)]) == 0
    assert (tmp_path / "tiny-64.onnx").is_file()
    assert not np.allclose(run_ort(tmp_path / "tiny-64.onnx", x)[0], ref, rtol=1e-2)


def test_jetson_target(tmp_path, capsys):
    out = tmp_path / "prn-jetson.onnx"
    argv = ["export", "--weights", "csppeleenet-prn", "--img-size", "64", "--target", "jetson", "-o", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "opset 11" in text and "jetson check: passed" in text and "build_engine.sh prn-jetson.onnx" in text
    proto = onnx.load(str(out))
    assert check_jetson_graph(proto) == [] and proto.opset_import[0].version == 11


def test_jetson_refusal_names_the_ops_and_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    from detector.layers import conv

    monkeypatch.setitem(conv.ACTIVATIONS, "leaky", nn.ELU)  # Elu is not on the whitelist
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous export")
    argv = ["export", "--weights", "csppeleenet-prn", "--img-size", "64", "--target", "jetson", "-o", str(out)]
    assert main(argv + ["--force"]) == 2
    err = one_line_error(capsys)
    assert "not deployable with TensorRT 8.2" in err and "Elu x" in err
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


@pytest.mark.parametrize("args,message", [
    (["--weights", "missing.pt"], "--weights missing.pt: no such file"),
    (["--cfg", "missing.cfg"], "--cfg missing.cfg: no such file"),
    (["--weights", "model.onnx"], "already an exported model"),
    (["--weights", "csppeleenet-prn", "--cfg", "x.cfg"], "--cfg x.cfg goes with Darknet --weights X.weights"),
    (["--weights", "csppeleenet-prn", "--target", "jetson", "--opset", "13"], "drop --opset 13"),
    (["--weights", "csppeleenet-prn", "--target", "jetson", "--dynamic"], "static shapes and batch 1"),
    (["--weights", "csppeleenet-prn", "--target", "jetson", "--batch", "2"], "static shapes and batch 1"),
    (["--weights", "csppeleenet-prn", "--batch", "0"], "argument --batch: must be at least 1"),
    (["--weights", "csppeleenet-prn", "--img-size", "16"], "must be between 32 and 8192, got 16"),
    (["--weights", "nope-config"], "nope-config"),
    (["--weights", "csppeleenet-prn", "--int8", "--calib", ".", "--opset", "12"],
     "--int8 writes opset 13 (per-channel DequantizeLinear); drop --opset 12"),
])
def test_user_errors_are_one_line(args, message, capsys):
    assert main(["export", *args]) == 2
    assert message in one_line_error(capsys)


def test_int8_with_an_infinite_activation_is_refused_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """A size-2, stride-1 max pool traced the old way (a Pad of -inf): calibration meets -inf."""
    from detector.darknet import ops

    cfg = tmp_path / "pool.cfg"
    cfg.write_text(TINY_CFG.replace("[convolutional]\nbatch_normalize=1\nfilters=16",
                                    "[maxpool]\nsize=2\nstride=1\n\n[convolutional]\nbatch_normalize=1\nfilters=16"))
    calib = tmp_path / "calib"
    calib.mkdir()
    cv2.imwrite(str(calib / "0.jpg"), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    argv = ["export", "--cfg", str(cfg), "--int8", "--calib", str(calib), "-o", str(tmp_path / "q.onnx")]
    assert main(argv) == 0 and (tmp_path / "q.onnx").is_file()  # the pool as one MaxPool: fine
    monkeypatch.delattr(ops._PaddedMaxPool, "symbolic")
    capsys.readouterr()
    assert main([*argv[:-1], str(tmp_path / "old.onnx")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()  # the warning about 1 image, then the error
    assert len(lines) == 2 and lines[0].startswith("cspdet export: warning: calibrating on 1 image")
    assert lines[1].startswith(f"cspdet export: error: {cfg} (--int8): INT8 calibration gave")
    assert lines[1].endswith("no INT8 file written")
    assert not (tmp_path / "old.onnx").exists()


def test_a_classifier_cfg_is_refused_in_one_line(tmp_path, capsys):
    cfg = tmp_path / "classifier.cfg"
    cfg.write_text("[net]\nwidth=64\nheight=64\nchannels=3\n[convolutional]\nfilters=4\nsize=3\n"
                   "activation=leaky\n[avgpool]\n[softmax]\n")
    assert main(["export", "--cfg", str(cfg), "-o", str(tmp_path / "c.onnx")]) == 2
    assert f"{cfg}: no [yolo] layers, so not a detector" in one_line_error(capsys)


def test_output_folder_is_refused(tmp_path, capsys):
    assert main(["export", "--weights", "csppeleenet-prn", "--img-size", "64", "-o", str(tmp_path)]) == 2
    assert "is a folder" in one_line_error(capsys)


def test_int8_and_half_exports(tmp_path, capsys):
    import cv2
    import numpy as np
    import onnx

    from detector.cli import main

    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(calib / f"{i}.jpg"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    q = tmp_path / "q.onnx"
    assert main(["export", "--weights", "csppeleenet-prn", "--img-size", "96", "--int8", "--calib", str(calib),
                 "-o", str(q)]) == 0
    proto = onnx.load(str(q))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in proto.graph.node}
    captured = capsys.readouterr()
    assert proto.opset_import[0].version == 13 and "opset 13;" in captured.out  # the file's own opset
    warned = [line for line in captured.err.splitlines() if "warning" in line]
    assert warned == [f"cspdet export: warning: calibrating on 4 image(s) of {calib}: with fewer than 32 the "
                      "activation ranges may miss values that other images reach, costing accuracy"]
    h = tmp_path / "h.onnx"
    assert main(["export", "--weights", "csppeleenet-prn", "--img-size", "96", "--half", "-o", str(h)]) == 0
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in onnx.load(str(h)).graph.initializer)
    assert main(["export", "--weights", "csppeleenet-prn", "--int8", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "--int8 needs --calib" in capsys.readouterr().err
