"""Live detection with an fps overlay: a webcam, a video file or a stream.

    python demos/webcam.py                        # webcam 0 with the bundled model
    python demos/webcam.py --source demos/media/demo.mp4 --weights model.onnx
    python demos/webcam.py --source rtsp://camera/stream --save out.mp4 --no-show

Uses only the public API: ``detector.Detector`` and its results' ``plot()``. Press q to quit.
"""
import argparse
import time

import cv2

from detector import Detector
from detector.resources import default_weights_path

BUNDLED = default_weights_path()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default="0", help="webcam index, video file or stream URL")
    ap.add_argument("--weights", default=str(BUNDLED), help=".pt, .onnx, .engine, or a Darknet .cfg")
    ap.add_argument("--backend", default=None, help="torch, onnxruntime, opencv or tensorrt")
    ap.add_argument("--conf-thres", type=float, default=0.25)
    ap.add_argument("--save", help="also write the annotated video here (.mp4)")
    ap.add_argument("--no-show", action="store_true", help="no window (e.g. over ssh)")
    args = ap.parse_args()

    det = Detector(args.weights, backend=args.backend, conf_thres=args.conf_thres)
    cap = cv2.VideoCapture(int(args.source) if args.source.isdigit() else args.source)
    if not cap.isOpened():
        raise SystemExit(f"--source {args.source}: cannot open")
    writer, fps, frames, start = None, 0.0, 0, time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        t = time.perf_counter()
        result = det(frame)
        fps = 0.9 * fps + 0.1 / (time.perf_counter() - t) if fps else 1 / (time.perf_counter() - t)
        img = result.plot()
        cv2.putText(img, f"{fps:.1f} fps  {result.summary()}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (0, 255, 0), 2, cv2.LINE_AA)
        if args.save:
            if writer is None:
                h, w = img.shape[:2]
                writer = cv2.VideoWriter(args.save, cv2.VideoWriter_fourcc(*"mp4v"), cap.get(cv2.CAP_PROP_FPS) or 30, (w, h))
            writer.write(img)
        if not args.no_show:
            cv2.imshow("cspdet", img)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                break
        frames += 1
    cap.release()
    if writer is not None:
        writer.release()
    cv2.destroyAllWindows()
    elapsed = time.perf_counter() - start
    print(f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps end to end)")


if __name__ == "__main__":
    main()
