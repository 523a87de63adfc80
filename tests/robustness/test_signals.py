"""Ctrl-C and SIGTERM at random moments: the run ends with its outputs finalised and complete and
its summary printed, exit 130 / 143, and never a traceback or a hang.

What is checked is what happened, never how fast: on a loaded machine a run may take seconds
to reach its next frame. HANG_S only bounds a run that does not end at all."""
import json
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.robustness.helpers import video_frames, write_video

HANG_S = 90  # a bound against a hang, not a timing


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "long.mp4", frames=1500)


class Run:
    """A CLI subprocess whose stdout and stderr are read as they come (stderr tells when its frame
    loop started), so no wait on it can block past its timeout."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "detector", *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out, self.err, self.looping = [], [], threading.Event()
        self.readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, self.err, True), daemon=True)]
        for t in self.readers:
            t.start()

    def _read(self, stream, into, watch=False):
        for chunk in iter(lambda: stream.read(64), ""):
            into.append(chunk)
            if watch and ("frame/s" in chunk or "frame]" in chunk):
                self.looping.set()

    def stop(self, sig, delay: float):
        """Send ``sig`` after ``delay`` s -> (stdout, stderr) once the run has ended."""
        time.sleep(delay)
        assert self.proc.poll() is None, "finished before the signal; make the input longer"
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=HANG_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"no exit {HANG_S} s after signal {sig}: {''.join(self.err)[-800:]}") from None
        for t in self.readers:
            t.join(HANG_S)
        return "".join(self.out), "".join(self.err)


def handling_signals(pid: int) -> bool:
    """Whether process ``pid`` catches SIGTERM yet (Linux: /proc/PID/status SigCgt), i.e. runs
    cspdet's code: a signal during the interpreter's own start-up (importing site) ends any Python
    program with a traceback, before any of its code can run."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next(int(ln.split()[1], 16) for ln in f if ln.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return True  # no /proc: nothing to wait for
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def check_exit(run, err, sig):
    assert "Traceback" not in err, err
    assert run.proc.returncode == (143 if sig == signal.SIGTERM else 130), (run.proc.returncode, err[-500:])


@pytest.mark.parametrize("trial", range(14))
def test_detect_interrupted_in_its_frame_loop(long_video, tmp_path, trial):
    rng = random.Random(trial)
    sig = signal.SIGTERM if trial % 4 == 3 else signal.SIGINT
    run = Run("detect", "--source", long_video, "--project", tmp_path, "--save-txt", "--save-json")
    assert run.looping.wait(120), "".join(run.err)
    out, err = run.stop(sig, rng.uniform(0.0, 1.5))
    check_exit(run, err, sig)
    assert "Interrupted:" in out and "Results saved to" in out, out  # the summary, then the exit code
    exp = tmp_path / "exp"
    labels = sorted((exp / "labels").glob("*.txt"))
    frames = sorted(int(p.stem.rsplit("_", 1)[1]) for p in labels)
    assert frames and frames == list(range(frames[0], frames[0] + len(frames)))  # no frame skipped
    assert video_frames(exp / "long.mp4") == len(labels)  # the video is finalised and holds every frame
    boxes = sum(len(p.read_text().splitlines()) for p in labels)
    assert len(json.loads((exp / "predictions.json").read_text())) == boxes  # the JSON lost no box


@pytest.mark.parametrize("trial", range(6))
def test_detect_interrupted_while_starting(long_video, tmp_path, trial):
    rng = random.Random(100 + trial)
    sig = signal.SIGTERM if trial % 2 else signal.SIGINT
    run = Run("detect", "--source", long_video, "--project", tmp_path)
    deadline = time.monotonic() + HANG_S  # a bound against a hang, not a timing
    while not handling_signals(run.proc.pid) and run.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    _, err = run.stop(sig, rng.uniform(0.0, 1.3))
    check_exit(run, err, sig)
    exp = tmp_path / "exp"
    if not run.looping.is_set():  # stopped before any frame: no folder of nothing is left behind
        assert not exp.exists() or any(p.is_file() for p in exp.rglob("*"))


def test_train_val_and_bench_stop_on_ctrl_c_sent_to_the_whole_process_group(tmp_path):
    """As a terminal's Ctrl-C does: data loader workers get the signal too."""
    import os

    from detector.data import make_synthetic_dataset

    data = make_synthetic_dataset(tmp_path / "d", 400, 8, img_size=(96, 96), seed=0)
    cmds = {"train": ["train", "--data", data, "--cfg", "csppeleenet-efm-nano", "--img-size", "96", "--epochs", "50",
                      "--batch-size", "8", "--workers", "2"],
            "val": ["val", "--data", data, "--split", "train", "--batch-size", "1"],
            "bench": ["bench", "csppeleenet-efm-sam", "--backends", "torch", "--runs", "5000", "--no-progress"]}
    for name, args in cmds.items():
        proc = subprocess.Popen([sys.executable, "-m", "detector", *map(str, args)], cwd=tmp_path, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(6)
        assert proc.poll() is None, f"{name} ended before the signal"
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=HANG_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AssertionError(f"{name} did not exit {HANG_S} s after Ctrl-C") from None
        assert "Traceback" not in err, (name, err)
        assert proc.returncode == 130, (name, proc.returncode, err[-500:])
        assert f"cspdet {name}: interrupted" in err
        if name == "train" and "interrupted in epoch" in out:
            assert "--resume" in out or "nothing to resume" in out


def test_inside_the_frame_loop_a_signal_is_recorded_not_raised():
    """A KeyboardInterrupt raised inside Queue.put/get can leave the writer waiting forever for
    its end marker; the loop polls ``received`` instead."""
    from detector.cli import Signals, polled_signals

    with Signals() as s:
        s.imported()
        with polled_signals() as polled:
            assert polled is s
            signal.raise_signal(signal.SIGTERM)
            assert s.polling and type(s.received).__name__ == "Terminated"
        with pytest.raises(KeyboardInterrupt):  # outside the loop a signal raises, as before
            signal.raise_signal(signal.SIGINT)
    with polled_signals() as none:  # no command running: nothing to poll, Ctrl-C raises
        assert none is None


def test_a_second_ctrl_c_in_the_frame_loop_ends_at_once():
    code = ("import signal, time\nfrom detector.cli import Signals\n"
            "with Signals('cspdet detect') as s:\n s.imported()\n with s.polled():\n"
            "  signal.raise_signal(signal.SIGINT)\n  signal.raise_signal(signal.SIGINT)\n  time.sleep(30)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 130 and "cspdet detect: interrupted again" in r.stderr, (r.returncode, r.stderr)
