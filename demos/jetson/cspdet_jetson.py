#!/usr/bin/env python3
"""Real-time detection on a Jetson TX2 with a cspdet model: CSI or USB camera, video, images.

    python3 cspdet_jetson.py model.engine --csi                 # CSI camera, TensorRT FP16 engine
    python3 cspdet_jetson.py model.engine --source 0            # USB camera /dev/video0
    python3 cspdet_jetson.py model.onnx --source clip.mp4 --backend opencv --save out.mp4
    python3 cspdet_jetson.py model.onnx --write-sidecar model.engine.json   # metadata for an engine

Runs on JetPack 4.6's Python 3.6 with numpy, OpenCV and TensorRT + pycuda (or OpenCV DNN /
ONNX Runtime on the .onnx); the cspdet package is not needed here. See docs/jetson.md.
"""
import argparse
import os
import sys
import time

import cv2

from cspdet_rt import Model, Source, Tegrastats, draw, draw_fps, energy_line, power_mode, write_sidecar

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="cspdet detector on a Jetson: camera, video or images, "
                                            "with an fps overlay.")
    p.add_argument("model", help="TensorRT .engine (with its .engine.json sidecar) or cspdet .onnx")
    p.add_argument("--backend", default="auto", choices=["auto", "tensorrt", "opencv", "onnxruntime"],
                   help="auto: TensorRT for .engine; ONNX Runtime if installed, else OpenCV DNN, for .onnx")
    p.add_argument("--source", default="0",
                   help="USB camera index, video file, image, image folder or a GStreamer pipeline (default 0)")
    p.add_argument("--csi", action="store_true", help="read the CSI camera through nvarguscamerasrc")
    p.add_argument("--sensor-id", type=int, default=0, help="CSI camera sensor-id")
    p.add_argument("--capture-size", type=int, nargs=2, default=[1280, 720], metavar=("W", "H"),
                   help="CSI capture size (default 1280 720)")
    p.add_argument("--capture-fps", type=int, default=30, help="CSI capture frame rate")
    p.add_argument("--flip-method", type=int, default=0, help="nvvidconv flip-method (2 = rotate 180)")
    p.add_argument("--conf-thres", type=float, default=0.25, help="score threshold (objectness x class)")
    p.add_argument("--iou-thres", type=float, default=0.45, help="NMS IoU threshold")
    p.add_argument("--max-det", type=int, default=300, help="maximum detections per frame")
    p.add_argument("--agnostic-nms", action="store_true", help="NMS across classes")
    p.add_argument("--no-show", action="store_true", help="no window (headless, over ssh)")
    p.add_argument("--save", default=None, help="write annotated output: a folder, or a video file (.mp4/.avi)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0: until the source ends)")
    p.add_argument("--print", action="store_true", dest="print_dets", help="print each frame's detections")
    p.add_argument("--no-onnx", action="store_true", help="read metadata with the built-in reader, not onnx")
    p.add_argument("--no-power", action="store_true",
                   help="do not measure energy (by default J/frame comes from tegrastats' VDD_IN where it runs)")
    p.add_argument("--write-sidecar", metavar="OUT.json", default=None,
                   help="write the ONNX model's metadata as JSON (for an engine built from it) and exit")
    return p.parse_args(argv)


class Saver(object):
    """Annotated frames to a folder (one file per frame) or to one video file."""

    def __init__(self, path, fps=30.0):
        self.path, self.fps, self.writer = path, fps, None
        self.video = path.lower().endswith(VIDEO_EXTS)
        if not self.video and not os.path.isdir(path):
            os.makedirs(path)

    def write(self, name, img):
        if not self.video:
            stem = os.path.splitext(name.replace(":", "_").replace(os.sep, "_"))[0]
            cv2.imwrite(os.path.join(self.path, stem + ".jpg"), img)
            return
        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.lower().endswith(".mp4") else "MJPG"))
            self.writer = cv2.VideoWriter(self.path, fourcc, self.fps, (img.shape[1], img.shape[0]))
        self.writer.write(img)

    def close(self):
        if self.writer is not None:
            self.writer.release()


def run(args):
    """The detection loop; returns a dict of counts and mean timings (for the summary and tests)."""
    model = Model(args.model, args.backend, args.conf_thres, args.iou_thres, args.max_det, args.agnostic_nms,
                  use_onnx=not args.no_onnx)
    print("{}: {} backend, input {}x{}, {} classes{}".format(
        args.model, model.backend, model.info.img_size[0], model.info.img_size[1], model.info.num_classes,
        ", raw outputs decoded in numpy" if model.info.raw else ""))
    src = Source(args.source, args.csi, args.sensor_id, args.capture_size, args.capture_fps, args.flip_method)
    saver = Saver(args.save) if args.save else None
    stats = {"frames": 0, "detections": 0, "pre": 0.0, "infer": 0.0, "post": 0.0}
    mode = power_mode()
    if mode:  # fps and J/frame are only comparable within one power mode (docs/jetson.md)
        print("power mode: {}".format(mode))
    meter = Tegrastats() if not args.no_power else None
    meter = meter.start() if meter is not None and meter.available else None
    fps, last, t_start = 0.0, None, time.perf_counter()
    try:
        for name, frame in src:
            det = model(frame)
            now = time.perf_counter()
            if last is not None:  # frame-to-frame: capture + inference + drawing, what the viewer sees
                fps = 1.0 / max(now - last, 1e-6) if not fps else 0.9 * fps + 0.1 / max(now - last, 1e-6)
            last = now
            stats["frames"] += 1
            stats["detections"] += len(det)
            for k in ("pre", "infer", "post"):
                stats[k] += model.timings[k]
            if args.print_dets:
                print("{}: {} ({:.1f} ms)".format(name, det.summary(), model.timings["infer"]))
            if saver is not None or not args.no_show:
                img = draw_fps(draw(frame.copy(), det.boxes, det.scores, det.class_ids, det.names),
                               fps or 1e3 / max(sum(model.timings.values()), 1e-3), model.backend)
                if saver is not None:
                    saver.write(name, img)
                if not args.no_show:
                    cv2.imshow("cspdet", img)
                    # Video and cameras keep running; images stay up until a key is pressed.
                    if cv2.waitKey(1 if src.files is None else 0) & 0xFF == ord("q"):
                        break
            if args.max_frames and stats["frames"] >= args.max_frames:
                break
    finally:
        src.close()
        if saver is not None:
            saver.close()
        if not args.no_show:
            cv2.destroyAllWindows()
        wall = time.perf_counter() - t_start
        stats["energy"] = energy_line(meter, stats["frames"], wall)
        if meter is not None:
            meter.stop()
    n = max(stats["frames"], 1)
    stats.update({k: stats[k] / n for k in ("pre", "infer", "post")})
    stats["fps"] = stats["frames"] / wall if wall > 0 else 0.0
    print("{frames} frames, {detections} detections | mean pre {pre:.1f} ms, inference {infer:.1f} ms, "
          "post {post:.1f} ms | {fps:.1f} fps end-to-end | {energy}".format(**stats))
    return stats


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.write_sidecar:
            print("wrote {}".format(write_sidecar(args.model, args.write_sidecar, use_onnx=not args.no_onnx)))
            return 0
        run(args)
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as e:
        print("cspdet_jetson: error: {}".format(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
