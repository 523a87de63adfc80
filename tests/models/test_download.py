"""Zoo downloads against a real HTTP server on 127.0.0.1: first fetch, cache hit, resume after a
dropped connection, wrong sizes, 404, connection refused, and Drive-only models."""
import hashlib
import json

import pytest

from detector.models import zoo
from detector.models.download import DownloadError, human_size, part_path
from tests.models.conftest import NAME


def one_line(e) -> str:
    text = str(e.value)
    assert "\n" not in text, text
    return text


def test_first_download_says_what_where_and_how_big_then_keeps_sha256(tiny_zoo, capsys):
    weights, cfg = zoo.resolve_weights(NAME)
    served_w, served_c = tiny_zoo.files[f"/{NAME}.weights"], tiny_zoo.files[f"/{NAME}.cfg"]
    assert weights.read_bytes() == served_w and cfg.read_bytes() == served_c
    assert weights.parent == zoo.home() and cfg.parent == zoo.home()
    assert [p for p, _ in tiny_zoo.requests] == [f"/{NAME}.cfg", f"/{NAME}.weights"]
    err = capsys.readouterr().err
    url = f"{tiny_zoo.url}/{NAME}.weights"
    assert f"downloading {NAME}.weights ({human_size(len(served_w))}) from {url} to {weights}" in err
    record = json.loads((zoo.home() / f"{NAME}.json").read_text())["files"]
    assert record[weights.name] == {"url": url, "bytes": len(served_w), "mtime_ns": weights.stat().st_mtime_ns,
                                    "sha256": hashlib.sha256(served_w).hexdigest(), "pinned": True}
    assert record[cfg.name]["sha256"] == hashlib.sha256(served_c).hexdigest()
    assert record[cfg.name]["pinned"] is False
    assert f"{cfg.name} is unpinned (no SHA-256 is published for it): SHA-256 {record[cfg.name]['sha256']}" in err
    assert not list(zoo.home().glob("*.part*"))


def test_cache_hit_sends_no_request(tiny_zoo):
    first = zoo.resolve_weights(NAME)
    n = len(tiny_zoo.requests)
    assert zoo.resolve_weights(NAME) == first
    assert len(tiny_zoo.requests) == n
    assert zoo.cache_state(NAME) == "yes"


def test_dropped_connection_keeps_part_and_next_call_resumes_with_range(tiny_zoo, capsys):
    path = f"/{NAME}.weights"
    data = tiny_zoo.files[path]
    cut = len(data) // 2
    tiny_zoo.drop[path] = cut
    with pytest.raises(DownloadError) as e:
        zoo.resolve_weights(NAME)
    text = one_line(e)
    dest = zoo.home() / f"{NAME}.weights"
    assert f"stopped at {cut:,} of {len(data):,} bytes" in text and str(dest) in text
    assert not dest.exists() and part_path(dest).stat().st_size == cut
    assert zoo.cache_state(NAME) == "partial"

    weights, _ = zoo.resolve_weights(NAME)
    last_path, last_headers = tiny_zoo.requests[-1]
    assert last_path == path and last_headers.get("Range") == f"bytes={cut}-"
    assert weights.read_bytes() == data and not part_path(dest).exists()
    assert "resuming at" in capsys.readouterr().err
    record = json.loads((zoo.home() / f"{NAME}.json").read_text())["files"][weights.name]
    assert record["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("change", [b"\0" * 8, None], ids=["longer", "shorter"])
def test_wrong_size_is_refused_and_never_promoted(tiny_zoo, change):
    path = f"/{NAME}.weights"
    data = tiny_zoo.files[path]
    tiny_zoo.files[path] = data + change if change else data[:-8]
    with pytest.raises(ValueError) as e:
        zoo.resolve_weights(NAME)
    assert f"expected {len(data):,}" in one_line(e)
    dest = zoo.home() / f"{NAME}.weights"
    assert not dest.exists() and not part_path(dest).exists()


def test_weights_whose_float_count_does_not_fit_the_cfg_are_refused(tiny_zoo):
    # The right byte count for the table, the wrong network: the cfg now needs other floats.
    tiny_zoo.files[f"/{NAME}.cfg"] = tiny_zoo.files[f"/{NAME}.cfg"].replace(b"filters=8", b"filters=4")
    with pytest.raises(ValueError, match="floats after the header") as e:
        zoo.resolve_weights(NAME)
    one_line(e)
    assert not (zoo.home() / f"{NAME}.weights").exists()


def test_a_cfg_that_does_not_parse_is_refused(tiny_zoo):
    tiny_zoo.files[f"/{NAME}.cfg"] = b"<html>rate limited</html>\n"
    with pytest.raises(ValueError) as e:
        zoo.resolve_weights(NAME)
    assert f"{tiny_zoo.url}/{NAME}.cfg" in one_line(e)
    assert not (zoo.home() / f"{NAME}.cfg").exists() and not list(zoo.home().glob("*.part"))


def test_404_names_the_url_and_where_to_put_the_file(tiny_zoo):
    del tiny_zoo.files[f"/{NAME}.weights"]
    with pytest.raises(DownloadError) as e:
        zoo.resolve_weights(NAME)
    text = one_line(e)
    assert "HTTP 404" in text and f"{tiny_zoo.url}/{NAME}.weights" in text
    assert f"save it as {zoo.home() / (NAME + '.weights')}" in text


def test_connection_refused_names_the_url_and_where_to_put_the_file(tiny_zoo, monkeypatch, refused_url):
    monkeypatch.setenv("CSPDET_ZOO_MIRROR", refused_url)
    with pytest.raises(DownloadError) as e:
        zoo.resolve_weights(NAME)
    text = one_line(e)
    assert f"{refused_url}/{NAME}.cfg" in text and str(zoo.home() / f"{NAME}.cfg") in text
    assert "refused" in text.lower()


def test_files_put_in_the_cache_by_hand_are_used_without_network(tiny_zoo, monkeypatch, refused_url):
    cfg, weights = tiny_zoo.files[f"/{NAME}.cfg"], tiny_zoo.files[f"/{NAME}.weights"]
    monkeypatch.setenv("CSPDET_ZOO_MIRROR", refused_url)
    zoo.home().mkdir(parents=True)
    (zoo.home() / f"{NAME}.cfg").write_bytes(cfg)
    (zoo.home() / f"{NAME}.weights").write_bytes(weights[:-4])
    with pytest.raises(ValueError, match="delete it to download it again"):
        zoo.resolve_weights(NAME)
    (zoo.home() / f"{NAME}.weights").write_bytes(weights)
    assert zoo.resolve_weights(NAME) == (zoo.home() / f"{NAME}.weights", zoo.home() / f"{NAME}.cfg")


def test_google_drive_only_model_says_where_to_get_it_without_any_request(monkeypatch, tmp_path):
    monkeypatch.setenv("CSPDET_HOME", str(tmp_path))
    monkeypatch.delenv("CSPDET_ZOO_MIRROR", raising=False)
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("no request expected"))
    with pytest.raises(FileNotFoundError) as e:
        zoo.resolve_weights("csresnext50-panet-spp")
    text = one_line(e)
    assert "https://drive.google.com/open?id=1Y6vJQf-Vu9O0tB10IUYNttktA-DLp5T1" in text
    assert f"save it as {tmp_path / 'csresnext50-panet-spp.weights'}" in text
