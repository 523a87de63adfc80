"""``--max-fps``: a loop paced by sleeping, and its duty cycle."""
import time

import pytest

from detector.cli import main
from detector.runtime.pacing import Pacer


class FakeClock:
    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s


def test_a_pacer_sleeps_to_the_next_slot_and_never_bursts_to_catch_up():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)  # a 0.1 s period
    pacer.begin()
    clock.now += 0.03  # frame 1 took 30 ms: sleep 70 ms
    pacer.wait()
    assert clock.now == pytest.approx(0.1) and pacer.slept == pytest.approx(0.07)
    clock.now += 0.25  # frame 2 overran by 150 ms: no sleep, and no short periods after it
    pacer.wait()
    clock.now += 0.02
    pacer.wait()
    assert clock.now == pytest.approx(0.45) and pacer.slept == pytest.approx(0.15)
    assert pacer.duty_cycle == pytest.approx(1 - 0.15 / 0.45)
    assert "paced to 10 fps" in pacer.line() and "duty cycle 67%" in pacer.line()
    assert all(s <= 0.1 for s in clock.sleeps)  # sliced: Ctrl-C is seen within 0.1 s


def test_a_cancelled_run_stops_sleeping():
    clock = FakeClock()
    pacer = Pacer(0.5, cancel=lambda: len(clock.sleeps) >= 3, clock=clock, sleep=clock.sleep)  # 2 s period
    pacer.begin()
    pacer.wait()
    assert len(clock.sleeps) == 3 and clock.now == pytest.approx(0.3)


def test_no_cap_counts_frames_only():
    pacer = Pacer(None)
    pacer.wait()
    pacer.wait()
    assert pacer.frames == 2 and pacer.slept == 0 and pacer.line() == "" and pacer.duty_cycle == 1.0
    with pytest.raises(ValueError, match="max-fps"):
        Pacer(-1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from detector.data.synthetic_tracks import make_tracking_videos

    return make_tracking_videos(tmp_path_factory.mktemp("pace"), 1, n_frames=12)[0]


def test_max_fps_paces_detect(clip, tmp_path, capsys):
    """The pacer is wired into detect: it slept between frames and says so. Its arithmetic is
    checked on a fake clock above; what the CPU does meanwhile is for benchmarks/, not a test."""
    argv = ["detect", "--source", str(clip), "--img-size", "64", "--threads", "1", "--nosave",
            "--project", str(tmp_path), "--max-fps", "8"]
    t = time.monotonic()
    assert main(argv) == 0
    out = capsys.readouterr().out
    # 12 frames at most 8 per second: a lower bound the pacing itself sets, which load only lengthens
    assert time.monotonic() - t >= (12 - 1) / 8
    assert "paced to 8 fps" in out and "duty cycle" in out and "CPU " in out and "s/frame" in out
