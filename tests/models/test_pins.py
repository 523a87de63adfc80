"""Pinned SHA-256s, the record of verified files, ``models --verify``, resumes that never splice
two files, and two processes fetching one name, against a real HTTP server on 127.0.0.1."""
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

from detector.cli import main
from detector.models import pins, zoo
from detector.models.download import part_path, part_record, rejected_path
from detector.resources import default_weights_path
from tests.conftest import REPO
from tests.models.conftest import NAME


def one_line(e) -> str:
    text = str(e.value)
    assert "\n" not in text, text
    return text


def tampered(data: bytes, at: float = 0.5) -> bytes:
    """Same length, 4 kB of other bytes from ``at`` of the way in: passes every size check."""
    mid = int(len(data) * at)
    return data[:mid] + bytes(255 - b for b in data[mid:mid + 4096]) + data[mid + 4096:]


def test_every_zoo_entry_is_pinned_or_says_why_not():
    for m in zoo.ZOO.values():
        if m.sha256 is None:
            assert m.sha256_from.startswith("not pinned yet: "), m.name
        else:
            assert len(m.sha256) == 64 and int(m.sha256, 16) >= 0 and "not pinned" not in m.sha256_from
    assert zoo.get("yolov4-tiny").sha256 == "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87"
    assert zoo.get("yolov3-tiny").sha256 == "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"


def test_the_shipped_model_has_its_pinned_hash():
    path = default_weights_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == zoo.get("cspdet-shapes").sha256


def test_a_tampered_download_is_refused_and_moved_aside(tiny_zoo):
    path = f"/{NAME}.weights"
    good = tiny_zoo.files[path]
    tiny_zoo.files[path] = bad = tampered(good)
    with pytest.raises(ValueError) as e:
        zoo.resolve_weights(NAME)
    text = one_line(e)
    expected, actual = hashlib.sha256(good).hexdigest(), hashlib.sha256(bad).hexdigest()
    assert f"SHA-256 {actual} is not the published {expected}" in text
    dest = zoo.home() / f"{NAME}.weights"
    assert not dest.exists() and not part_path(dest).exists() and not part_record(dest).exists()
    assert rejected_path(dest).read_bytes() == bad and str(rejected_path(dest)) in text

    tiny_zoo.files[path] = good  # the mirror is mended: the next call fetches the real file
    weights, _ = zoo.resolve_weights(NAME)
    assert weights.read_bytes() == good


def test_a_cached_file_is_rechecked_only_after_its_size_or_mtime_changed(tiny_zoo, monkeypatch):
    weights, _ = zoo.resolve_weights(NAME)
    reads = []
    real = pins.sha256_file
    monkeypatch.setattr(pins, "sha256_file", lambda p: reads.append(p.name) or real(p))
    zoo.resolve_weights(NAME)
    assert reads == []  # unchanged: trusted from the record, not re-read
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    zoo.resolve_weights(NAME)
    assert reads == [weights.name]
    weights.write_bytes(tampered(weights.read_bytes()))
    with pytest.raises(ValueError, match=r"SHA-256 [0-9a-f]{64} is not the published [0-9a-f]{64}; moved aside"):
        zoo.resolve_weights(NAME)
    assert not weights.exists() and rejected_path(weights).is_file()
    assert weights.name not in pins.load_record(zoo.home() / f"{NAME}.json")


def test_an_unpinned_file_prints_its_hash_and_says_so(tiny_zoo, monkeypatch, capsys):
    entry = zoo.ZOO[NAME]
    monkeypatch.setitem(zoo.ZOO, NAME, zoo.ZooModel(**{**entry.__dict__, "sha256": None}))
    weights, _ = zoo.resolve_weights(NAME)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert f"{weights.name} is unpinned (no SHA-256 is published for it): SHA-256 {digest}" in capsys.readouterr().err
    weights.write_bytes(tampered(weights.read_bytes()))  # unpinned: used, but the change is said
    zoo.resolve_weights(NAME)
    err = capsys.readouterr().err
    assert f"(it was {digest} when first recorded: the file changed)" in err


def test_models_verify_checks_every_cached_file(tiny_zoo, capsys):
    zoo.resolve_weights(NAME)
    capsys.readouterr()
    assert main(["models", "--verify"]) == 0
    out = capsys.readouterr().out
    assert f"{NAME}: {NAME}.weights: ok, SHA-256 " in out and "(pinned)" in out and "(unpinned)" in out
    assert "cspdet-shapes: cspdet-shapes.pt: ok" in out and "0 refused" in out
    weights = zoo.home() / f"{NAME}.weights"
    data = weights.read_bytes()
    weights.write_bytes(tampered(data))
    os.utime(weights, ns=(0, weights.stat().st_mtime_ns))
    assert main(["models", "--verify"]) == 1
    out = capsys.readouterr().out
    assert "is not the published" in out and "1 refused" in out and rejected_path(weights).is_file()


def test_a_foreign_part_is_not_resumed(tiny_zoo):
    dest = zoo.home() / f"{NAME}.weights"
    data = tiny_zoo.files[f"/{NAME}.weights"]
    dest.parent.mkdir(parents=True)
    part_path(dest).write_bytes(os.urandom(len(data) // 2))  # no record: not ours to splice onto
    weights, _ = zoo.resolve_weights(NAME)
    assert weights.read_bytes() == data
    assert all("Range" not in headers for _, headers in tiny_zoo.requests)


@pytest.mark.parametrize("if_range", [True, False], ids=["server-honours-If-Range", "server-ignores-it"])
def test_a_part_of_a_file_that_changed_on_the_server_starts_again(tiny_zoo, monkeypatch, if_range):
    tiny_zoo.if_range = if_range
    entry = zoo.ZOO[NAME]
    monkeypatch.setitem(zoo.ZOO, NAME, zoo.ZooModel(**{**entry.__dict__, "sha256": None}))  # no pin to save us
    path = f"/{NAME}.weights"
    old = tiny_zoo.files[path]
    tiny_zoo.drop[path] = len(old) // 2
    with pytest.raises(FileNotFoundError, match="stopped at"):
        zoo.resolve_weights(NAME)
    dest = zoo.home() / f"{NAME}.weights"
    assert json.loads(part_record(dest).read_text())["etag"]
    tiny_zoo.files[path] = new = tampered(old, 0.25)  # same size, new content (in the kept half), new ETag
    weights, _ = zoo.resolve_weights(NAME)
    assert weights.read_bytes() == new  # not old[:half] + new[half:]
    resumes = [h for _, h in tiny_zoo.requests if h.get("Range")]
    assert resumes and all(h.get("If-Range") for h in resumes)  # the resume named what it continues


FETCH = """
import hashlib, sys
from detector.models import zoo
zoo.ZOO[{name!r}] = zoo.ZooModel({name!r}, "test net", 64, 0.0, 0.0, 1.0, 64, "tests",
    cfg_url="https://example.invalid/x.cfg", weights_url="https://example.invalid/x.weights",
    weights_bytes={size}, sha256={sha!r})
w, c = zoo.fetch({name!r}, progress=False)
print(hashlib.sha256(w.read_bytes()).hexdigest())
"""


def test_two_processes_fetching_one_name_both_get_the_whole_file(tiny_zoo, tmp_path):
    import threading
    import time

    data = tiny_zoo.files[f"/{NAME}.weights"]
    gate = tiny_zoo.gate[f"/{NAME}.weights"] = threading.Event()  # the first download waits here
    script = tmp_path / "fetch.py"
    script.write_text(textwrap.dedent(FETCH.format(name=NAME, size=len(data), sha=hashlib.sha256(data).hexdigest())))
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def start():
        return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)

    first = start()
    deadline = time.monotonic() + 120  # a bound against a hang, not a timing
    while not any(p == f"/{NAME}.weights" for p, _ in tiny_zoo.requests):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = start()  # the first holds the lock, mid-download
    said = ""
    while "waiting for another cspdet process" not in said:
        line = second.stderr.readline()
        assert line, said  # the second ended without waiting
        said += line
    gate.set()
    for p in (first, second):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == hashlib.sha256(data).hexdigest()
    whole = [h for p, h in tiny_zoo.requests if p == f"/{NAME}.weights"]
    assert len(whole) == 1 and "Range" not in whole[0]  # the second found the file the first finished


def test_cspdet_home_that_is_a_file_is_one_line(tiny_zoo, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    monkeypatch.setenv("CSPDET_HOME", str(home))
    assert main(["models", "--download", NAME]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"$CSPDET_HOME={home}: it (or a folder above it) is a file, not a folder" in err[0]
