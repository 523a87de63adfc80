"""The Jetson demo's energy per frame: tegrastats' VDD_IN from a recorded TX2 output, integrated
over the run; 'n/a (no power counters)' where tegrastats does not run."""
import cv2
import pytest

from tests.bench.test_energy import ORIN_LINE, TX2_LINES, fake_tegrastats


def test_the_demo_reads_the_vdd_in_rail(demo_rt):
    power = demo_rt.power
    assert [power.parse_vdd_in(line) for line in TX2_LINES] == [3.041, 9.127] and power.parse_vdd_in(ORIN_LINE) == 7.805
    assert power.integrate([(0.0, 2.0), (1.0, 4.0), (3.0, 4.0)]) == pytest.approx(11.0)
    assert power.energy_line(None, 10, 1.0) == "energy: n/a (no power counters)"


@pytest.fixture
def frames(tmp_path, images):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, img in enumerate(images[:3]):
        cv2.imwrite(str(folder / f"{i}.jpg"), img)
    return folder


def test_the_demo_prints_joules_per_frame_where_tegrastats_runs(jetson_models, demo_app, frames, tmp_path,
                                                                monkeypatch, capsys):
    monkeypatch.setenv("CSPDET_TEGRASTATS", str(fake_tegrastats(tmp_path)))
    model = str(jetson_models["decoded"])
    stats = demo_app.run(demo_app.parse_args([model, "--source", str(frames), "--no-show", "--backend", "opencv"]))
    assert stats["frames"] == 3
    assert stats["energy"].startswith("energy: ") and ("J/frame (tegrastats VDD_IN" in stats["energy"]
                                                       or stats["energy"].endswith("(no power counters)"))
    assert stats["energy"] in capsys.readouterr().out
    monkeypatch.setenv("CSPDET_TEGRASTATS", "")
    monkeypatch.setattr(demo_app.__dict__["Tegrastats"], "available", property(lambda self: False))
    stats = demo_app.run(demo_app.parse_args([model, "--source", str(frames), "--no-show", "--backend", "opencv"]))
    assert stats["energy"] == "energy: n/a (no power counters)"


def test_a_long_enough_run_integrates_the_samples(demo_rt, tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("CSPDET_TEGRASTATS", str(fake_tegrastats(tmp_path)))
    meter = demo_rt.Tegrastats(interval_ms=20).start()
    try:
        deadline = time.monotonic() + 30
        while meter.samples() < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        line = demo_rt.energy_line(meter, 4, 0.5)
    finally:
        meter.stop()
    assert meter.samples() >= 5 and "J/frame (tegrastats VDD_IN" in line
