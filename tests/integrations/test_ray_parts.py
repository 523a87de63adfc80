"""The pieces of the Ray integration that run without a cluster: the predictor classes called on
batches as Ray Data would call them, the input listing, the pool sizing, the address check,
the outputs, and the command's one-line errors."""
import json
import socket
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("ray.data", reason="Ray Data not installed (pip install -e '.[dev]' installs it)")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from detector.data.coco import image_ids  # noqa: E402
from detector.integrations.ray import BatchPredictor, VideoPredictor  # noqa: E402
from detector.integrations.ray.cluster import Pool, check_reachable, fit_pool  # noqa: E402
from detector.integrations.ray.inputs import list_inputs  # noqa: E402
from detector.integrations.ray.model_files import ModelFiles  # noqa: E402
from detector.integrations.ray.outputs import ImageOutputs  # noqa: E402
from detector.runtime.predictor import Detector  # noqa: E402
from tests.robustness.helpers import assert_one_line_error, cspdet, video_frames  # noqa: E402

from .conftest import SIZE, WEIGHTS  # noqa: E402

SETTINGS = dict(img_size=SIZE, conf_thres=0.05, threads=1)


@pytest.fixture(scope="module")
def predictor():
    return BatchPredictor(str(WEIGHTS), annotate=True, **SETTINGS)


@pytest.fixture(scope="module")
def detector():
    return Detector(str(WEIGHTS), **SETTINGS)


def rows(table, column):
    return table.column(column).to_pylist()


def assert_same(table, expected: dict):
    """Each row of ``table`` holds exactly (to the bit) the Results ``expected[path]``."""
    for path, boxes, scores, ids, names in zip(rows(table, "path"), rows(table, "boxes"), rows(table, "scores"),
                                               rows(table, "class_ids"), rows(table, "class_names")):
        res = expected[path]
        assert len(res) > 0, path  # a picture the model finds nothing in would prove nothing
        np.testing.assert_array_equal(np.asarray(boxes, np.float32).reshape(-1, 4), res.xyxy)
        np.testing.assert_array_equal(np.asarray(scores, np.float32), res.scores)
        assert ids == res.class_ids.tolist() and names == res.labels


def test_a_path_batch_gives_detects_boxes_and_a_reason_per_bad_row(predictor, detector, pictures):
    paths = [str(p) for p in sorted(pictures.glob("*.*g"))] + [str(pictures / "gone.jpg")]
    batch = {"path": np.array(paths, dtype=object), "index": np.arange(len(paths)), "tag": np.array(["t"] * len(paths))}
    table = predictor(batch)
    assert table.num_rows == len(paths) and rows(table, "index") == list(range(len(paths)))
    assert rows(table, "tag") == ["t"] * len(paths)  # other columns are carried through
    errors = dict(zip(rows(table, "path"), rows(table, "error")))
    assert "cannot decode image" in errors[str(pictures / "broken.jpg")]
    assert errors[str(pictures / "gone.jpg")].endswith("gone.jpg: no such image")
    good = table.filter(pa.compute.is_null(table.column("error")))
    assert good.num_rows == 5
    assert_same(good, {p: detector(p) for p in rows(good, "path")})
    bad = table.filter(pa.compute.is_valid(table.column("error")))
    assert rows(bad, "boxes") == [None, None] and rows(bad, "annotated") == [None, None]
    img = cv2.imdecode(np.frombuffer(rows(good, "annotated")[0], np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (rows(good, "height")[0], rows(good, "width")[0], 3)


def test_image_arrays_are_taken_as_rgb_unless_told_bgr(predictor, detector, pictures):
    paths = [str(p) for p in sorted(pictures.glob("00*.jpg"))]
    bgr = [cv2.imread(p) for p in paths]
    expected = {p: detector(img) for p, img in zip(paths, bgr)}
    rgb = np.empty(len(paths), dtype=object)
    rgb[:] = [img[:, :, ::-1] for img in bgr]  # ragged, as Ray gives differently sized images
    assert_same(predictor({"image": rgb, "path": np.array(paths, dtype=object)}), expected)
    as_bgr = BatchPredictor(str(WEIGHTS), channels="bgr", **SETTINGS)
    assert_same(as_bgr({"image": np.stack(bgr), "path": np.array(paths, dtype=object)}), expected)
    swapped = as_bgr({"image": rgb, "path": np.array(paths, dtype=object)})
    assert rows(swapped, "scores") != [expected[p].scores.tolist() for p in paths]  # the order matters
    grey = predictor({"image": np.zeros((1, 40, 60), np.uint8)})
    assert rows(grey, "error") == [None] and rows(grey, "height") == [40]
    floats = predictor({"image": np.zeros((1, 40, 60, 3), np.float32)})
    assert "row 0: not an image array" in rows(floats, "error")[0]
    assert "image" not in floats.column_names


def test_bytes_and_file_uris_read_as_local_paths(predictor, detector, pictures):
    paths = [str(p) for p in sorted(pictures.glob("00*.jpg"))]
    blobs = predictor({"bytes": np.array([open(p, "rb").read() for p in paths], dtype=object),
                       "path": np.array(paths, dtype=object)})
    assert "bytes" not in blobs.column_names
    assert_same(blobs, {p: detector(p) for p in paths})
    uris = [f"file://{p}" for p in paths] + [f"file://{pictures}/gone.jpg"]
    table = predictor({"path": np.array(uris, dtype=object)})
    assert_same(table.slice(0, len(paths)), {u: detector(p) for u, p in zip(uris, paths)})
    assert rows(table, "error")[-1] == f"file://{pictures}/gone.jpg: no such image"


def test_batched_inference_keeps_the_detections(detector, pictures):
    paths = [str(p) for p in sorted(pictures.glob("*.*g")) if "broken" not in p.name]
    batched = BatchPredictor(str(WEIGHTS), infer_batch=3, **SETTINGS)({"path": np.array(paths, dtype=object)})
    for path, boxes, ids in zip(paths, rows(batched, "boxes"), rows(batched, "class_ids")):
        res = detector(path)
        assert ids == res.class_ids.tolist()
        np.testing.assert_allclose(np.asarray(boxes).reshape(-1, 4), res.xyxy, atol=1e-2)


def test_shipped_model_files_load_the_same_model(tmp_path, detector, pictures):
    shipped = ModelFiles.read(WEIGHTS)
    assert shipped.weights == WEIGHTS.name and shipped.files[WEIGHTS.name] == WEIGHTS.read_bytes()
    path, cfg = shipped.local(tmp_path / "node")
    assert cfg is None and path.read_bytes() == WEIGHTS.read_bytes() and shipped.digest in str(path)
    assert shipped.local(tmp_path / "node")[0].stat().st_mtime_ns == path.stat().st_mtime_ns  # written once
    img = str(pictures / "000.jpg")
    np.testing.assert_array_equal(Detector(path, **SETTINGS)(img).xyxy, detector(img).xyxy)
    xml = tmp_path / "m.xml"
    xml.write_text("<net/>")
    (tmp_path / "m.bin").write_bytes(b"\0" * 8)
    assert sorted(ModelFiles.read(xml).files) == ["m.bin", "m.xml"]
    assert ModelFiles.read("csppeleenet-prn") is None  # a config name: every node builds it


def test_inputs_are_listed_in_order_with_detects_names(tmp_path, pictures, videos):
    found = list_inputs(str(pictures))
    assert [p.rsplit("/", 1)[-1] for p in found.images] == ["000.jpg", "001.jpg", "002.jpg", "003.jpg",
                                                             "broken.jpg", "scene.png"]
    assert found.image_names == [p.rsplit("/", 1)[-1] for p in found.images] and not found.videos
    vids = list_inputs(str(videos))
    assert vids.video_names == ["a.mp4", "b.mp4", "c.mp4"] and not vids.images
    nested = tmp_path / "nested"
    for sub in ("x", "y"):
        (nested / sub).mkdir(parents=True)
        (nested / sub / "1.jpg").write_bytes(b"")
    assert list_inputs(str(nested), recursive=True).image_names == ["x/1.jpg", "y/1.jpg"]  # never one output
    with pytest.raises(FileNotFoundError, match="subfolders need --recursive"):
        list_inputs(str(nested))
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        list_inputs(str(tmp_path / "missing"))


def test_a_table_column_lists_paths_and_uris(tmp_path, pictures):
    pq.write_table(pa.table({"file": ["pictures/001.jpg", None, f"file://{pictures}/000.jpg", "clip.mp4"],
                             "n": [1, 2, 3, 4]}), tmp_path / "list.parquet")
    found = list_inputs(str(tmp_path / "list.parquet"), column="file")
    assert found.images == [str(pictures / "001.jpg"), f"file://{pictures}/000.jpg"]  # relative to the table
    assert found.videos == [str(tmp_path / "clip.mp4")]
    (tmp_path / "list.csv").write_text(f"id,uri\n7,{pictures}/002.jpg\n")
    assert list_inputs(str(tmp_path / "list.csv"), column="uri").images == [str(pictures / "002.jpg")]
    with pytest.raises(ValueError, match=r"no column 'path' \(columns: file, n\); pass --column"):
        list_inputs(str(tmp_path / "list.parquet"))
    assert list_inputs(f"file://{pictures}").images[0] == f"file://{pictures}/000.jpg"


def test_the_pool_fits_the_cluster():
    assert fit_pool({"CPU": 2.0}) == Pool(actors=2, threads=1, batch_size=16)
    assert fit_pool({"CPU": 64.0}, threads=4).actors == 16
    assert fit_pool({"CPU": 2.0}, threads=2).actors == 1
    gpu = fit_pool({"CPU": 32.0, "GPU": 4.0}, gpus=0.5)
    assert (gpu.actors, gpu.batch_size, gpu.gpus) == (8, 64, 0.5)
    assert fit_pool({"CPU": 2.0}, actors=5, batch_size=3).actors == 5  # an autoscaler may add the rest
    with pytest.raises(ValueError, match="the cluster has 2 CPUs, an actor needs 4"):
        fit_pool({"CPU": 2.0}, threads=4)
    with pytest.raises(ValueError, match="--gpus-per-actor 1: the cluster has 0 GPUs"):
        fit_pool({"CPU": 2.0}, gpus=1)


def test_an_address_is_checked_in_seconds():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        t = time.monotonic()
        with pytest.raises(ValueError, match=f"--address 127.0.0.1:{port}: no Ray cluster answers there"):
            check_reachable(f"127.0.0.1:{port}")
        assert time.monotonic() - t < 10  # a hang bound, not a timing
        s.listen()
        check_reachable(f"ray://127.0.0.1:{port}")
    with pytest.raises(ValueError, match="expected host:port"):
        check_reachable("headnode")


def test_the_command_fails_in_one_line_before_any_cluster(tmp_path, pictures):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        r = cspdet("batch", "--source", pictures, "--weights", WEIGHTS, "--address", f"127.0.0.1:{s.getsockname()[1]}",
                   "--project", tmp_path, timeout=120)
    assert_one_line_error(r, "--address", "no Ray cluster answers there", code=2)
    r = cspdet("batch", "--source", tmp_path / "none", "--weights", WEIGHTS, "--project", tmp_path, timeout=120)
    assert_one_line_error(r, "--source", "no such file or folder", code=2)
    assert not list(tmp_path.glob("exp*"))  # a failed start leaves no run folder


def test_image_ids_follow_detects_rule_over_the_readable_images(tmp_path):
    outputs = ImageOutputs(tmp_path, ["a", "b"], [5, 7])
    names = ["12.jpg", "cat.jpg", "broken.jpg", "dog.jpg", "3.jpg"]
    errors = [None, None, "broken.jpg: cannot decode image", None, None]

    def table(order):
        return pa.table({"index": pa.array(order, pa.int64()), "name": [names[i] for i in order],
                         "boxes": pa.array([None if errors[i] else [[1.0, 2.0, 3.0, 4.0]] for i in order],
                                           pa.list_(pa.list_(pa.float32(), 4))),
                         "scores": pa.array([None if errors[i] else [0.5] for i in order], pa.list_(pa.float32())),
                         "class_ids": pa.array([None if errors[i] else [i % 2] for i in order], pa.list_(pa.int32())),
                         "error": [errors[i] for i in order]})

    outputs.add(table([4, 1]))
    outputs.add(table([0, 2, 3, 1]))  # index 1 again, as a retried batch might send it: kept once
    outputs.close()
    assert (outputs.images, outputs.skipped, outputs.duplicates) == (4, 1, 1)
    results = pq.read_table(tmp_path / "results.parquet")
    assert rows(results, "index") == [0, 1, 2, 3, 4]
    ids = image_ids(["12", "cat", "dog", "3"])  # the readable ones, in source order, as detect numbers them
    assert rows(results, "image_id") == [ids[0], ids[1], None, ids[2], ids[3]] == [12, 13, None, 14, 3]
    preds = json.loads((tmp_path / "predictions.json").read_text())
    assert [(p["image_id"], p["category_id"]) for p in preds] == [(12, 5), (13, 7), (14, 7), (3, 5)]
    assert preds[0]["bbox"] == [1.0, 2.0, 2.0, 2.0]
    files = {f["id"]: f["file_name"] for f in json.loads((tmp_path / "image_ids.json").read_text())}
    assert files[13] == "cat.jpg" and files[14] == "dog.jpg"


def test_a_video_is_read_in_order_and_tracked(tmp_path, videos):
    det = Detector(str(WEIGHTS), **dict(SETTINGS, conf_thres=0.1), agnostic=True)
    expected = list(det.track(str(videos / "a.mp4")))
    vp = VideoPredictor(str(WEIGHTS), tracker={}, out_dir=str(tmp_path), **dict(SETTINGS, conf_thres=0.1),
                        agnostic=True)
    table = vp({"path": np.array([str(videos / "a.mp4"), str(videos / "c.mp4"), str(videos / "a.mp4")], dtype=object),
                "name": np.array(["a.mp4", "c.mp4", "a2.mp4"], dtype=object)})
    errors = rows(table, "error")
    assert errors.count(None) == 48 and errors[24] == f"{videos / 'c.mp4'}: cannot open video"
    ok = table.filter(pa.compute.is_null(table.column("error")))
    assert rows(ok, "frame") == list(range(24)) * 2 and ok.num_rows == 2 * len(expected)
    assert rows(ok, "track_ids") == [r.ids.tolist() for r in expected] * 2  # a fresh tracker per video
    assert sum(map(len, rows(ok, "track_ids"))) > 0
    for boxes, res in zip(rows(ok, "boxes"), expected):
        np.testing.assert_array_equal(np.asarray(boxes, np.float32).reshape(-1, 4), res.xyxy)
    assert video_frames(tmp_path / "a.mp4") == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "a2.mp4"]  # no temporary folder left
    strided = VideoPredictor(str(WEIGHTS), vid_stride=5, **SETTINGS)({"path": np.array([str(videos / "b.mp4")])})
    assert rows(strided, "frame") == [0, 5, 10] and "track_ids" not in strided.column_names


def test_only_the_command_line_imports_the_integrations():
    from tests.test_layering import GRAPH, in_package

    found = [f"{m} -> {t}" for m, targets in sorted(GRAPH.items()) for t in sorted(targets)
             if in_package(t, "detector.integrations") and not in_package(m, "detector.integrations")
             and not in_package(m, "detector.cli")]
    assert not found, f"only detector.cli may import detector.integrations: {', '.join(found)}"
    assert "detector.integrations.ray.job" in GRAPH["detector.cli.batch"]
