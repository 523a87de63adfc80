"""Frames from a CSI camera (GStreamer), a USB camera, a video file, an image or a folder. Python 3.6."""
import os

import cv2

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def csi_pipeline(sensor_id=0, width=1280, height=720, fps=30, flip_method=0):
    """The GStreamer pipeline for a Jetson CSI camera (e.g. the TX2 devkit's OV5693) as BGR frames.

    nvarguscamerasrc delivers NV12 in NVMM (GPU) memory; nvvidconv copies it out as BGRx and
    flips; videoconvert drops the x. ``drop=1 max-buffers=1`` on the appsink keeps only the newest
    frame, so a slow model shows live video instead of an ever older queue.
    """
    return ("nvarguscamerasrc sensor-id={sid} ! "
            "video/x-raw(memory:NVMM), width={w}, height={h}, framerate={fps}/1, format=NV12 ! "
            "nvvidconv flip-method={flip} ! video/x-raw, width={w}, height={h}, format=BGRx ! "
            "videoconvert ! video/x-raw, format=BGR ! appsink drop=1 max-buffers=1"
            ).format(sid=sensor_id, w=width, h=height, fps=fps, flip=flip_method)


def has_gstreamer():
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


class Source(object):
    """Iterate (name, BGR frame); ``live`` for cameras; ``close()`` releases the device."""

    def __init__(self, spec, csi=False, sensor_id=0, capture_size=(1280, 720), capture_fps=30, flip_method=0):
        self.cap, self.files, self.live, self.kind = None, None, False, "images"
        spec = "" if spec is None else str(spec)
        if csi or "!" in spec:
            pipeline = spec if "!" in spec else csi_pipeline(sensor_id, capture_size[0], capture_size[1],
                                                             capture_fps, flip_method)
            self._open(pipeline, cv2.CAP_GSTREAMER, "CSI camera pipeline" if csi else "GStreamer pipeline")
            if not self.cap.isOpened() and not has_gstreamer():
                raise RuntimeError("this OpenCV has no GStreamer support (pip's opencv-python never has); "
                                   "use JetPack's: sudo apt install python3-opencv, and pip3 uninstall opencv-python")
            self.live = True
        elif spec.isdigit():
            self._open(int(spec), cv2.CAP_V4L2 if os.name == "posix" else cv2.CAP_ANY, "USB camera")
            self.live = True
        elif os.path.isdir(spec):
            self.files = sorted(os.path.join(spec, f) for f in os.listdir(spec) if f.lower().endswith(IMAGE_EXTS))
            if not self.files:
                raise FileNotFoundError("--source {}: no images in this folder".format(spec))
        elif spec.lower().endswith(IMAGE_EXTS):
            if not os.path.isfile(spec):
                raise FileNotFoundError("--source {}: no such image".format(spec))
            self.files = [spec]
        else:
            if not os.path.isfile(spec):
                raise FileNotFoundError("--source {}: no such file, folder or camera index".format(spec))
            self._open(spec, cv2.CAP_ANY, "video")
        if self.cap is not None and not self.cap.isOpened():
            raise RuntimeError("could not open {} {!r}".format(self.kind, spec or "(CSI)"))

    def _open(self, what, api, kind):
        self.kind = kind
        self.cap = cv2.VideoCapture(what, api)
        self.name = str(what) if kind != "CSI camera pipeline" else "csi"

    def __iter__(self):
        if self.files is not None:
            for path in self.files:
                img = cv2.imread(path, cv2.IMREAD_COLOR)
                if img is None:  # a broken file should not end a folder run
                    print("skipped unreadable image {}".format(path))
                    continue
                yield os.path.basename(path), img
            return
        index = 0
        while True:
            ok, frame = self.cap.read()
            if not ok:
                return
            yield "{}:{}".format(self.name, index), frame
            index += 1

    def close(self):
        if self.cap is not None:
            self.cap.release()
