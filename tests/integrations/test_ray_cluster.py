"""``cspdet batch`` and ``BatchPredictor`` on a real local Ray cluster (``ray.init(num_cpus=2)``,
started once for the module): the same predictions as ``cspdet detect``, per-row faults, a killed
actor, videos with tracking, every CPU backend, the README's example, Ctrl-C."""
import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray Data not installed (pip install -e '.[dev]' installs it)")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from detector.cli import main  # noqa: E402
from detector.integrations.ray.cluster import Pool  # noqa: E402
from detector.integrations.ray.job import image_pipeline  # noqa: E402
from detector.runtime.predictor import Detector  # noqa: E402
from tests.conftest import REPO, missing_shared, shared_dir  # noqa: E402
from tests.robustness.helpers import video_frames  # noqa: E402

from .conftest import SIZE, WEIGHTS  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """A real single-node cluster on two CPUs -> its address, for a second driver to join."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def coco128():
    images = shared_dir() / "data" / "coco128" / "images"
    if not images.is_dir():
        missing_shared(f"coco128 not found at {images}")
    return sorted(images.glob("*.jpg"))


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def digests(folder: Path) -> dict:
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def by_image(preds: list[dict]) -> dict:
    out: dict = {}
    for p in preds:
        out.setdefault(p["image_id"], []).append(p)
    return out


def test_the_cluster_run_equals_detect_and_skips_bad_rows(cluster, coco128, tmp_path):
    listing = tmp_path / "list.txt"
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    listing.write_text("\n".join([*map(str, coco128[:60]), "broken.jpg", "gone.jpg", *map(str, coco128[60:])]) + "\n")
    # one thread, as each actor has: oneDNN's convolutions sum in an order that depends on the thread
    # count, which moves boxes by ~1e-4 px between 1 and 2 threads
    model = ["--weights", WEIGHTS, "--img-size", 320, "--conf-thres", 0.05, "--threads", 1]
    # cspdet detect in its own process, as users run it (this one turned oneDNN off: see tests/conftest.py)
    detect = subprocess.Popen([sys.executable, "-m", "detector", "detect", "--source", listing, *map(str, model),
                               "--save-json", "--nosave", "--project", tmp_path / "detect"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, err = run_cli("batch", "--source", listing, *model, "--batch-size", 8, "--project", tmp_path / "batch")
    assert detect.wait(600) == 0, detect.communicate()[1][-2000:]
    assert code == 0, err
    assert "Done: 128 images" in out and " 2 skipped" in out and "2 actors x 1 thread, batch 8" in out, out
    assert "broken.jpg: cannot decode image" in err and "gone.jpg: no such image" in err
    run = tmp_path / "batch" / "exp"
    ours = json.loads((run / "predictions.json").read_text())
    theirs = json.loads((tmp_path / "detect" / "exp" / "predictions.json").read_text())
    assert len(ours) == len(theirs) > 1000
    ours, theirs = by_image(ours), by_image(theirs)
    assert sorted(ours) == sorted(theirs) and set(theirs) <= {int(p.stem) for p in coco128}
    for image_id, expected in theirs.items():
        got = ours[image_id]
        assert [g["category_id"] for g in got] == [e["category_id"] for e in expected], image_id
        np.testing.assert_allclose([g["bbox"] for g in got], [e["bbox"] for e in expected], atol=1e-4)
        np.testing.assert_allclose([g["score"] for g in got], [e["score"] for e in expected], atol=1e-5)
    table = pq.read_table(run / "results.parquet")
    assert table.num_rows == 130 and table.column("index").to_pylist() == list(range(130))
    errors = {n: e for n, e in zip(table.column("name").to_pylist(), table.column("error").to_pylist()) if e}
    assert sorted(errors) == ["broken.jpg", "gone.jpg"]
    named = dict(zip(table.column("name").to_pylist(), table.column("image_id").to_pylist()))
    assert all(named[p.name] == int(p.stem) for p in coco128) and named["gone.jpg"] is None

    # a second run, from a Parquet column of file:// URIs, goes to exp2 and leaves exp as it was
    before = digests(run)
    pq.write_table(pa.table({"uri": [f"file://{p}" for p in coco128[:5]]}), tmp_path / "uris.parquet")
    code, out, err = run_cli("batch", "--source", tmp_path / "uris.parquet", "--column", "uri", *model,
                             "--project", tmp_path / "batch", "--actors", 1, "--save-img")
    assert code == 0, err
    assert digests(run) == before
    again = pq.read_table(tmp_path / "batch" / "exp2" / "results.parquet")
    assert again.column("boxes").to_pylist() == table.column("boxes").to_pylist()[:5]
    assert sorted(p.name for p in (tmp_path / "batch" / "exp2").glob("*.jpg")) == [p.name for p in coco128[:5]]


def map_workers() -> set[int]:
    """PIDs of this cluster's BatchPredictor actors (descendants of this process, named by Ray)."""
    parents, names = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                names[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])

    def ours(pid):
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return {pid for pid, name in names.items() if name.startswith(b"ray::MapWorker(MapBatches(BatchPredictor")
            and ours(pid)}


def test_a_killed_actor_is_replaced_and_every_image_comes_once(cluster, coco128):
    paths = [str(p) for p in coco128[:64]]
    ds = image_pipeline(paths, [Path(p).name for p in paths], Pool(actors=2, threads=1, batch_size=4, retries=2),
                        dict(weights=str(WEIGHTS), img_size=640, conf_thres=0.05, threads=1))
    seen, killed, fresh = [], None, set()
    for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        seen += table.column("index").to_pylist()
        assert table.column("error").null_count == table.num_rows
        workers = map_workers()
        if killed is None:
            assert len(workers) == 2, workers
            killed = sorted(workers)[0]
            os.kill(killed, signal.SIGKILL)
            before = workers
        else:
            fresh |= workers - before
    assert killed is not None and len(seen) > 0
    assert sorted(seen) == list(range(64))  # each image exactly once
    assert fresh, "no actor was started in the killed one's place"


def test_videos_are_split_by_file_and_tracked(cluster, videos, tmp_path):
    code, out, err = run_cli("batch", "--source", videos, "--weights", WEIGHTS, "--img-size", SIZE, "--track",
                             "--save-img", "--project", tmp_path)
    assert code == 0, err
    assert "3 videos, 39 frames" in out and " tracks" in out and "1 skipped" in out, out
    assert "c.mp4: cannot open video" in err
    run = tmp_path / "exp"
    for name, frames in (("a", 24), ("b", 15)):
        table = pq.read_table(run / "videos" / f"{name}.parquet")
        assert table.column("frame").to_pylist() == list(range(frames))
        assert sum(len(ids) for ids in table.column("track_ids").to_pylist()) > 0
        assert video_frames(run / "videos" / f"{name}.mp4") == frames
    assert sorted(p.name for p in (run / "videos").iterdir()) == ["a.mp4", "a.parquet", "b.mp4", "b.parquet"]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "opencv"])
def test_every_cpu_backend_runs_in_the_actors(cluster, pictures, backend):
    pytest.importorskip("openvino") if backend == "openvino" else None
    paths = sorted(str(p) for p in pictures.glob("00*.jpg"))
    settings = dict(weights=str(WEIGHTS), backend=backend, img_size=SIZE, conf_thres=0.05, threads=1)
    ds = image_pipeline(paths, [Path(p).name for p in paths], Pool(actors=1, threads=1, batch_size=4), settings)
    table = pa.concat_tables(ds.iter_batches(batch_size=None, batch_format="pyarrow")).sort_by("index")
    det = Detector(**settings)
    for path, boxes, ids in zip(paths, table.column("boxes").to_pylist(), table.column("class_ids").to_pylist()):
        res = det(path)
        assert len(res) and ids == res.class_ids.tolist(), path
        np.testing.assert_allclose(np.asarray(boxes).reshape(-1, 4), res.xyxy, atol=1e-4)


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    found = [b for b in blocks if "BatchPredictor" in b]
    assert len(found) == 1, "the README shows one BatchPredictor example"
    return found[0]


def test_the_readme_example_runs_as_written(cluster, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    exec(compile(readme_example(), "README.md", "exec"), {})
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "demo_00" in ln]
    assert len(lines) == 4 and all("circle" in ln or "square" in ln or "triangle" in ln for ln in lines), lines


def test_read_images_arrays_give_detects_boxes(cluster, pictures):
    """ray.data.read_images (PIL, RGB) into BatchPredictor: lossless PNGs decode to the same pixels."""
    folder = pictures / "png"
    folder.mkdir()
    for p in sorted(pictures.glob("00*.jpg")):
        cv2.imwrite(str(folder / f"{p.stem}.png"), cv2.imread(str(p)))
    from detector.integrations.ray import BatchPredictor

    ds = ray.data.read_images(str(folder), mode="RGB", include_paths=True).map_batches(
        BatchPredictor, fn_constructor_kwargs=dict(weights=str(WEIGHTS), img_size=SIZE, conf_thres=0.05, threads=1),
        compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1, batch_size=2)
    det = Detector(str(WEIGHTS), img_size=SIZE, conf_thres=0.05, threads=1)
    rows = ds.take_all()
    assert len(rows) == 4
    for row in rows:
        res = det(row["path"])
        assert len(res) and list(row["class_ids"]) == res.class_ids.tolist()
        # within 1e-4, not to the bit: this process runs PyTorch without oneDNN (tests/conftest.py)
        np.testing.assert_allclose(np.asarray(list(row["boxes"]), np.float32).reshape(-1, 4), res.xyxy, atol=1e-4)


def test_ctrl_c_stops_the_run_and_leaves_whole_files(cluster, coco128, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(map(str, coco128 * 3)) + "\n")
    args = ["batch", "--address", cluster, "--source", listing, "--weights", WEIGHTS, "--img-size", 640,
            "--batch-size", 4, "--project", tmp_path / "runs"]
    proc = subprocess.Popen([sys.executable, "-m", "detector", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    progress = threading.Event()
    err: list[str] = []

    def read():
        for chunk in iter(lambda: proc.stderr.read(32), ""):
            err.append(chunk)
            if re.search(r"\| *[1-9]\d*/384 ", "".join(err[-8:])):
                progress.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert progress.wait(300), "".join(err)[-2000:]
    assert proc.poll() is None, "finished before the signal; make the input longer"
    proc.send_signal(signal.SIGINT)
    try:
        out = proc.communicate(timeout=60)[0]  # bounds a hang, not a timing
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("no exit 60 s after Ctrl-C: " + "".join(err)[-2000:]) from None
    reader.join(5)
    assert proc.returncode == 130, "".join(err)[-2000:]
    assert "Interrupted: " in out and "Traceback" not in "".join(err)
    run = tmp_path / "runs" / "exp"
    assert not [p for p in run.rglob("*") if p.name.startswith(".")]  # no temporary file left behind
    done = pq.read_table(run / "results.parquet").column("index").to_pylist()
    assert 0 < len(done) < 384 and len(set(done)) == len(done)
    assert len(json.loads((run / "predictions.json").read_text())) > 0
