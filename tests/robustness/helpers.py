"""Run the real CLI in a subprocess, as a user's shell would, and read what it left behind."""
import os
import subprocess
import sys

import cv2
import numpy as np


def cspdet(*args, cwd=None, env=None, timeout=300):
    """``python -m detector ARGS`` -> CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "detector", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def start(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "detector", *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def assert_one_line_error(r, *culprits, code=None):
    """Failed with one ``error:`` line naming every culprit, and no traceback."""
    err = r.stderr
    assert r.returncode != 0, (r.stdout, err)
    if code is not None:
        assert r.returncode == code, (r.returncode, err)
    assert "Traceback" not in err and "Traceback" not in r.stdout, err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    for c in culprits:
        assert str(c) in lines[0], (c, lines[0])
    return lines[0]


def write_video(path, frames=60, size=(320, 240), fps=25):
    """A video of moving squares (something for the shapes model to find)."""
    w, h = size
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    rng = np.random.default_rng(0)
    background = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
    for i in range(frames):
        img = background.copy()
        x = 20 + (i * 3) % (w - 80)
        cv2.rectangle(img, (x, 60), (x + 50, 110), (30, 200, 240), -1)
        out.write(img)
    out.release()
    return path


def video_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    return n
