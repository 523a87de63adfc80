"""Live detection with an fps overlay: a webcam, a video file or a stream.

    python -m detector.demos.webcam                     # webcam 0 with the bundled model
    python -m detector.demos.webcam --source demo --weights model.onnx   # the bundled video
    python -m detector.demos.webcam --source rtsp://camera/stream --save out.mp4 --no-show
    python -m detector.demos.webcam --track --trail 20  # ByteTrack IDs, a colour per ID, trails

Uses only the public API: ``detector.Detector``, ``Detector.track`` and the results' ``plot()``.
Press q to quit. Without a display (ssh, a container) it says so and stops before opening
anything, unless ``--no-show`` is given.
"""
import argparse
import time

import cv2

from detector import Detector
from detector.resources import resolve_source
from detector.runtime.display import no_display
from detector.runtime.sources import capture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default="0", help="webcam index, video file, stream URL, or demo (the bundled video)")
    ap.add_argument("--weights", default=None, help=".pt, .onnx, .xml, .engine, a Darknet .cfg or a zoo name "
                                                    "(default: the bundled shapes model)")
    ap.add_argument("--backend", default=None, help="torch, onnxruntime, opencv or tensorrt")
    ap.add_argument("--conf-thres", type=float, default=0.25)
    ap.add_argument("--track", action="store_true", help="track objects: draw a persistent ID on each (needs scipy)")
    ap.add_argument("--trail", type=int, default=0, help="with --track, draw each ID's last N centres")
    ap.add_argument("--save", help="also write the annotated video here (.mp4)")
    ap.add_argument("--no-show", action="store_true", help="no window (e.g. over ssh)")
    args = ap.parse_args()
    why = None if args.no_show else no_display()
    if why:  # cv2.imshow would abort the process (exit 134) at the first frame
        raise SystemExit(f"webcam demo: a window needs {why}; run with --no-show (and --save out.mp4)")

    # tracking keeps boxes down to 0.1 for ByteTrack's second round, with NMS across classes
    det = Detector(args.weights, backend=args.backend, conf_thres=min(args.conf_thres, 0.1) if args.track
                   else args.conf_thres, agnostic=args.track)
    source = resolve_source(args.source)
    cap = capture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise SystemExit(f"--source {args.source}: cannot open")
    writer, fps, frames, start = None, 0.0, 0, time.perf_counter()
    results = det.track(read(cap), trail=args.trail) if args.track else map(det, read(cap))
    for result in results:
        rate = 1e3 / max(sum(result.speed.values()), 1e-3)
        fps = 0.9 * fps + 0.1 * rate if fps else rate
        img = result.plot()
        ids = f"  {len(set(result.ids.tolist()))} IDs" if result.ids is not None else ""
        cv2.putText(img, f"{fps:.1f} fps  {result.summary()}{ids}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
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


def read(cap):
    """Frames of an open capture until it ends (or drops)."""
    while True:
        ok, frame = cap.read()
        if not ok:
            return
        yield frame


if __name__ == "__main__":
    main()
