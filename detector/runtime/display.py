"""Whether a window can be shown: asked before the first ``cv2.imshow``, which on a machine
without one aborts the whole process (Qt's exit 134) instead of raising."""
from __future__ import annotations

import os
import sys


def no_display() -> str | None:
    """Why no window can open here ('a display (DISPLAY is not set)', 'OpenCV with a GUI ...'),
    or None when one can."""
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "a display (DISPLAY is not set)"
    gui = cv2.getBuildInformation().partition("GUI:")[2].partition("\n")[0].strip()
    if gui == "NONE":
        return "OpenCV with a GUI (opencv-python-headless has none)"
    return None
