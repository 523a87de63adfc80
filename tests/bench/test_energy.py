"""Energy per frame: RAPL from a fake powercap tree (wraparound, sockets, unreadable counters),
the Jetson's VDD_IN from a recorded tegrastats output, and ``cspdet bench --energy`` saying
'n/a (no power counters)' where there are none -- never an estimate."""
import json
import os
import stat
import sys
import textwrap
import time

import pytest

from detector.bench import energy
from detector.bench.energy import (NO_COUNTERS, EnergyWindow, PowerSamples, RaplMeter, TegrastatsMeter, open_meter,
                                   parse_tegrastats, rapl_zones)
from detector.cli import main

# tegrastats on a Jetson TX2, JetPack 4.6 (L4T R32.6.1): rails in mW as current/average, no unit.
TX2_LINES = [
    "RAM 2134/7852MB (lfb 1045x4MB) SWAP 0/3926MB (cached 0MB) CPU [12%@1420,off,off,9%@1420,11%@1420,8%@1420] "
    "EMC_FREQ 7%@1600 GR3D_FREQ 0%@114 APE 150 PLL@41C MCPU@41C PMIC@100C Tboard@37C GPU@39.5C BCPU@41C "
    "thermal@40.2C Tdiode@38.5C VDD_SYS_GPU 152/152 VDD_SYS_SOC 686/686 VDD_4V0_WIFI 0/0 VDD_IN 3041/3041 "
    "VDD_SYS_CPU 457/457 VDD_SYS_DDR 481/481",
    "RAM 2140/7852MB (lfb 1045x4MB) SWAP 0/3926MB (cached 0MB) CPU [64%@2035,off,off,48%@2035,55%@2035,51%@2035] "
    "EMC_FREQ 21%@1866 GR3D_FREQ 99%@1300 APE 150 PLL@43C MCPU@43C PMIC@100C Tboard@37C GPU@42C BCPU@43C "
    "thermal@42.3C Tdiode@39.75C VDD_SYS_GPU 3651/1901 VDD_SYS_SOC 1143/914 VDD_4V0_WIFI 0/0 VDD_IN 9127/6084 "
    "VDD_SYS_CPU 1904/1180 VDD_SYS_DDR 1488/984",
]
ORIN_LINE = ("08-16-2023 10:21:32 RAM 3340/30536MB (lfb 6147x4MB) CPU [2%@729,1%@729] GR3D_FREQ 0% "
             "VDD_GPU_SOC 3192mW/3192mW VDD_CPU_CV 798mW/798mW VIN_SYS_5V0 3825mW/3825mW VDD_IN 7805mW/7805mW")


def zone(root, name: str, label: str, uj: int, max_uj: int = 262143328850):
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


@pytest.fixture
def no_counters(monkeypatch, tmp_path):
    """A machine without RAPL or tegrastats, whatever runs the tests."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(energy.POWERCAP_ENV, str(tmp_path / "empty"))
    monkeypatch.delenv(energy.TEGRASTATS_ENV, raising=False)
    monkeypatch.setattr(energy.shutil, "which", lambda name: None)


def test_rapl_sums_the_packages_and_survives_a_wraparound(tmp_path):
    root = tmp_path / "powercap"
    p0 = zone(root, "intel-rapl:0", "package-0", 1_000_000, max_uj=10_000_000)
    p1 = zone(root, "intel-rapl:1", "package-1", 5_000_000)
    zone(root, "intel-rapl:0:0", "core", 7)  # a subzone: inside package-0 already
    zone(root, "intel-rapl:2", "psys", 9)  # the platform: overlaps the packages
    zones, why = rapl_zones(root)
    assert why is None and [z.name for z in zones] == ["package-0", "package-1"]
    meter = RaplMeter(zones).start()
    assert meter.source == "RAPL package-0+package-1"
    (p0 / "energy_uj").write_text("9000000\n")  # +8 J
    (p1 / "energy_uj").write_text("6000000\n")  # +1 J
    assert meter.joules() == pytest.approx(9.0)
    (p0 / "energy_uj").write_text("500000\n")  # wrapped at 10 J: +1 J to the top, +0.5 J after
    assert meter.joules() == pytest.approx(10.5)


def test_unreadable_counters_are_named_not_guessed(tmp_path):
    root = tmp_path / "powercap"
    d = zone(root, "amd-rapl:0", "package-0", 1)
    (d / "energy_uj").write_text("permission denied?\n")
    zones, why = rapl_zones(root)
    assert zones == [] and "not readable" in why and "energy_uj" in why
    reading = EnergyWindow(None, why).reading()
    assert reading.line().startswith("energy: n/a (no power counters: RAPL counters not readable")


def test_no_counters_gives_cpu_seconds_instead(no_counters):
    meter, why = open_meter()
    assert meter is None and why is None
    window = EnergyWindow(meter, why)
    window.open()
    sum(i * i for i in range(200_000))
    window.close(4)
    r = window.reading()
    assert r.joules is None and r.joules_per_frame is None and r.cpu_seconds > 0
    assert r.line().startswith(NO_COUNTERS + " | CPU ") and r.line().endswith(" s/frame")


def test_tegrastats_lines_of_a_tx2_and_an_orin_parse():
    assert [parse_tegrastats(line) for line in TX2_LINES] == [3.041, 9.127]
    assert parse_tegrastats(ORIN_LINE) == 7.805
    assert parse_tegrastats("RAM 2134/7852MB CPU [1%@345]") is None


def test_power_samples_integrate_by_the_trapezoid_rule():
    s = PowerSamples()
    for t, w in ((0.0, 2.0), (1.0, 4.0), (3.0, 4.0)):
        s.add(t, w)
    assert s.joules() == pytest.approx(3.0 + 8.0)
    assert s.joules(0.5, 3.0) == pytest.approx(8.0)  # only samples inside the window


def fake_tegrastats(tmp_path):
    """An executable that prints the recorded TX2 lines every --interval ms, as tegrastats does."""
    exe = tmp_path / "tegrastats"
    exe.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys, time
        lines = {TX2_LINES!r}
        ms = int(sys.argv[sys.argv.index("--interval") + 1])
        i = 0
        while True:
            print(lines[i % len(lines)], flush=True)
            i += 1
            time.sleep(ms / 1000)
        """))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_a_jetson_meter_integrates_vdd_in_from_tegrastats(tmp_path, monkeypatch, no_counters):
    monkeypatch.setenv(energy.TEGRASTATS_ENV, str(fake_tegrastats(tmp_path)))
    meter, why = open_meter()
    try:
        assert isinstance(meter, TegrastatsMeter) and why is None
        deadline = time.monotonic() + 30
        while len(meter.samples.points) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        joules = meter.joules()
        pts = meter.samples.points
        span = pts[-1][0] - pts[0][0]
    finally:
        meter.stop()
    assert len(pts) >= 6 and {w for _, w in pts} == {3.041, 9.127}
    assert 3.041 * span <= joules <= 9.127 * span  # the mean power lies between the samples
    assert meter.proc.poll() is not None  # the child process is gone


def test_bench_energy_reports_tegrastats_joules_per_image(tmp_path, monkeypatch, no_counters, capsys):
    monkeypatch.setenv(energy.TEGRASTATS_ENV, str(fake_tegrastats(tmp_path)))
    out = tmp_path / "b.json"
    argv = ["bench", "csppeleenet-prn", "--img-size", "64", "--runs", "6", "--warmup", "1", "--threads", "1",
            "--backends", "onnxruntime", "--energy", "--json", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Energy per image" in text and "tegrastats VDD_IN" in text
    (row,) = json.loads(out.read_text())["rows"]
    e = row["energy"]
    assert e["frames"] == 6 and e["cpu_s_per_frame"] > 0 and e["source"].startswith("tegrastats")
    assert e["joules"] is not None and e["joules"] >= 0


def test_bench_energy_says_na_without_counters(no_counters, capsys):
    argv = ["bench", "csppeleenet-prn", "--img-size", "64", "--runs", "4", "--warmup", "1", "--threads", "1",
            "--backends", "onnxruntime", "--block", "2", "--energy", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "energy: n/a (no power counters)" in text and "| n/a " in text
    assert "J / image" in text and "CPU s / image" in text
    assert os.environ[energy.POWERCAP_ENV]  # the fixture held
