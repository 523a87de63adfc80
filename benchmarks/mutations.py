"""Mutation check of the tests of tracking, evaluation and reports, the OpenVINO and ONNX Runtime
backends, INT8 export and result ordering: each mutation is a small realistic mistake made in
the code, the tests of its area are run on it, and the table says which test went red (or that
none did). Writes docs/mutations.md.

    .venv/bin/python benchmarks/mutations.py [--only T1,E3] [--out docs/mutations.md]

Each file is restored from its own bytes after its run (and the run refuses to start on a file
with uncommitted changes, so ``git checkout`` restores it too if the script is killed).
"""
from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]

# The tests of each area, the quickest and most pointed first (-x stops at the first red one);
# a surviving mutation has run them all.
TRACK = ["tests/tracking/test_scenario.py", "tests/tracking/test_bytetrack.py", "tests/tracking/test_adaptive.py",
         "tests/tracking/test_track_cli.py", "tests/tracking/test_adaptive_cli.py"]
EVAL = ["tests/engine/test_hand_metrics.py", "tests/engine/test_evaluate.py", "tests/engine/test_report.py",
        "tests/engine/test_validate.py"]
OPENVINO = ["tests/export/test_onnx.py::test_raw_maps_are_taken_in_the_metadatas_order_not_the_graphs",
            "tests/runtime/test_openvino_backend.py"]
INT8 = ["tests/export/test_quantize.py"]
ORDER = ["tests/app/test_result_order.py", "tests/app/test_detect_cli.py"]


class Mutation(NamedTuple):
    key: str
    what: str
    path: str
    old: str
    new: str
    tests: list[str]


BT, MET, REP = "detector/runtime/tracking/bytetrack.py", "detector/engine/metrics.py", "detector/engine/report.py"
OVB, ORTB, Q = ("detector/runtime/backends/openvino_backend.py", "detector/runtime/backends/ort_backend.py",
                "detector/export/quantize.py")

MUTATIONS = [
    # tracking
    Mutation("T1", "low-score (second) round reuses the first round's match threshold", BT,
             "self._match(still, det, low, 0.5, fuse=False)", "self._match(still, det, low, self.match, fuse=False)",
             TRACK),
    Mutation("T2", "low-score band starts at the high threshold (second round sees no box)", BT,
             "(scores >= self.low) & (scores < self.high)", "(scores >= self.high) & (scores < self.high)", TRACK),
    Mutation("T3", "second round fuses IoU with the (low) score like the first", BT,
             "low, 0.5, fuse=False)", "low, 0.5, fuse=True)", TRACK),
    Mutation("T4", "track buffer off by one (lost for exactly `track_buffer` frames is removed)", BT,
             "t.state == LOST and self.step - t.seen_at <= self.buffer",
             "t.state == LOST and self.step - t.seen_at < self.buffer", TRACK),
    Mutation("T5", "a track is confirmed on its third hit instead of its second", BT,
             "t.hits > 1", "t.hits > 2", TRACK),
    Mutation("T6", "first-frame boxes are not confirmed at once", BT,
             "(self.step == 1 or t.hits > 1)", "(t.hits > 1)", TRACK),
    Mutation("T7", "Kalman filter without velocity (constant position)", "detector/runtime/tracking/kalman.py",
             "_F[:4, 4:] = np.eye(4)", "_F[:4, 4:] = 0 * np.eye(4)", TRACK),
    Mutation("T8", "lost tracks are not offered to the first round", BT,
             "pool = confirmed + self.lost", "pool = confirmed", TRACK),
    Mutation("T9", "assignment keeps pairs over the cost threshold", "detector/runtime/tracking/assign.py",
             "keep = cost[rows, cols] <= thresh", "keep = cost[rows, cols] <= thresh + 1", TRACK),
    Mutation("T10", "the unconfirmed round matches against all high boxes, not those left", BT,
             "self._match(unconfirmed, det, high_left, 0.7, fuse=True)",
             "self._match(unconfirmed, det, high, 0.7, fuse=True)", TRACK),
    # evaluation and reports
    Mutation("E1", "precision and recall swapped in the per-class rows", REP,
             "float(pi), float(ri), float(ap50)", "float(ri), float(pi), float(ap50)", EVAL),
    Mutation("E2", "precision and recall swapped in the 'all' row", REP,
             'm["P"], m["R"], m["AP50"]', 'm["R"], m["P"], m["AP50"]', EVAL),
    Mutation("E3", "validate's mean P and R swapped", "detector/engine/validate.py",
             "metrics.update(P=float(p.mean()) if len(p) else 0.0, R=float(r.mean()) if len(r) else 0.0)",
             "metrics.update(P=float(r.mean()) if len(r) else 0.0, R=float(p.mean()) if len(p) else 0.0)", EVAL),
    Mutation("E4", "recall divided by the detections instead of the ground truths", MET,
             "recall = tps / n_gt", "recall = tps / max(len(tps), 1)", EVAL),
    Mutation("E5", "AP from raw precision, without the envelope", MET,
             "envelope = np.maximum.accumulate(precision[::-1])[::-1]", "envelope = precision", EVAL),
    Mutation("E6", "101-point lookup on the wrong side", MET,
             'np.searchsorted(recall, RECALL_POINTS, side="left")',
             'np.searchsorted(recall, RECALL_POINTS, side="right")', EVAL),
    Mutation("E7", "IoU exactly at the threshold is not a match", MET,
             "if free[j] >= iou_thres:", "if free[j] > iou_thres:", EVAL),
    Mutation("E8", "detections matched worst score first", MET,
             "for i in np.argsort(-np.asarray(scores), kind=\"stable\"):",
             "for i in np.argsort(np.asarray(scores), kind=\"stable\"):", EVAL),
    Mutation("E9", "pooled detections not ranked by score", MET,
             "order = np.argsort(-conf, kind=\"stable\")", "order = np.arange(len(conf))", EVAL),
    Mutation("E10", "per-class AP50 read at IoU 0.55", "detector/engine/evaluate.py",
             "ap50.append(p[0][p[0] > -1].mean())", "ap50.append(p[1][p[1] > -1].mean())", EVAL),
    Mutation("E11", "confusion matrix transposed (row = true class)", "detector/engine/confusion.py",
             "(pred[pairs[:, 1]], true[pairs[:, 0]])", "(true[pairs[:, 0]], pred[pairs[:, 1]])", EVAL),
    Mutation("E12", "missed objects counted in the background column, not row", "detector/engine/confusion.py",
             "np.add.at(matrix, (nc, true[missed]), 1)", "np.add.at(matrix, (true[missed], nc), 1)", EVAL),
    Mutation("E13", "'images' per class counts instances", REP,
             "for _, cat in set(objects):", "for _, cat in objects:", EVAL),
    # OpenVINO / ONNX Runtime
    Mutation("O1", "OpenVINO's outputs taken in its listed order, not the metadata's", OVB,
             'order = self.meta.meta.get("output_names") or [o.get_any_name() for o in compiled.outputs]',
             "order = [o.get_any_name() for o in compiled.outputs]", OPENVINO),
    Mutation("O2", "ONNX Runtime's outputs taken in the session's listed order", ORTB,
             'self.output_names = (self.meta.meta.get("output_names") or listed) if self.meta.raw else listed',
             "self.output_names = listed", OPENVINO),
    Mutation("O3", "OpenVINO fed the channels reversed (BGR)", OVB,
             "self.request.infer({0: np.ascontiguousarray(blob, dtype=np.float32)})",
             "self.request.infer({0: np.ascontiguousarray(blob[:, ::-1], dtype=np.float32)})", OPENVINO),
    Mutation("O4", "OpenVINO's precision hint not passed (the device's default)", OVB,
             "config = {hints.inference_precision: getattr(ov.Type, hint), hints.performance_mode: mode}",
             "config = {hints.performance_mode: mode}", OPENVINO),
    Mutation("O5", "OpenVINO replicas compiled for latency (no streams)", OVB,
             "threads=n * threads, hint=self.precision, streams=n)", "threads=n * threads, hint=self.precision)",
             OPENVINO),
    Mutation("O6", "--half ignored by OpenVINO", OVB,
             "    if not half:\n        return \"f32\"", "    if True:\n        return \"f32\"", OPENVINO),
    # INT8
    Mutation("I1", "per-tensor INT8 weight scales instead of per-channel", Q,
             "per_channel=True", "per_channel=False", INT8),
    Mutation("I2", "int8 activations (S8S8) instead of uint8", Q,
             "activation_type=QuantType.QUInt8", "activation_type=QuantType.QInt8", INT8),
    Mutation("I3", "the head's last convs quantised too", Q,
             "excluded = decoder_nodes(graph) + (head_convs(graph) if float_head else [])",
             "excluded = decoder_nodes(graph)", INT8),
    Mutation("I4", "the FP32 file's metadata not copied into the INT8 file", Q,
             "proto.metadata_props.extend(original.metadata_props)", "pass", INT8),
    Mutation("I5", "scale check misses ranges over MAX_RANGE", Q,
             "(scale * 255 > MAX_RANGE)", "(scale > MAX_RANGE)", INT8),
    # result ordering
    Mutation("R1", "val's predictions.json left in the batches' order", "detector/cli/val.py",
             'detections = sorted(detections, key=lambda d: place.get(d["image_id"], len(place)))  # stable',
             "pass", ORDER),
    Mutation("R2", "write_coco keeps the threads' finishing order", "detector/runtime/sinks.py",
             "items = sorted(written, key=lambda item: item.seq)", "items = list(written)", ORDER),
    Mutation("R3", "write_coco's id map built from the unsorted items", "detector/runtime/sinks.py",
             "return {item.seq: i for i, item in zip(ids, items)}",
             "return {item.seq: i for i, item in zip(ids, written)}", ORDER),
    Mutation("R4", "detections of a val image reversed (worst first)", "detector/cli/val.py",
             "for d in res.to_coco(item.image_id, ids)]", "for d in res.to_coco(item.image_id, ids)[::-1]]",
             ORDER),
]


def line_of(text: str, old: str) -> int:
    return text[:text.index(old)].count("\n") + 1


def run_tests(tests: list[str]) -> tuple[bool, str]:
    """(green, the first failing test or error) of ``tests`` with -x."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-W", "ignore", *tests]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode == 0:
        return True, ""
    found = re.search(r"^(FAILED|ERROR) (\S+)", proc.stdout, re.M)
    return False, found.group(2) if found else proc.stdout.strip().splitlines()[-1]


def mutate(m: Mutation) -> dict:
    path = ROOT / m.path
    original = path.read_bytes()
    text = original.decode()
    if text.count(m.old) != 1:
        raise SystemExit(f"{m.key}: {m.path} holds {text.count(m.old)} copies of the text to change, not 1")
    line = line_of(text, m.old)
    path.write_text(text.replace(m.old, m.new))
    try:
        green, red = run_tests(m.tests)
    finally:
        path.write_bytes(original)
    return {"key": m.key, "what": m.what, "where": f"{m.path}:{line}", "red": red, "green": green}


def table(rows: list[dict]) -> str:
    out = ["| # | mutation | file:line | test that went red |", "|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['key']} | {r['what']} | `{r['where']}` | "
                   + ("**survived** (all green)" if r["green"] else f"`{r['red']}`") + " |")
    caught = sum(not r["green"] for r in rows)
    return "\n".join(out) + f"\n\n{caught} of {len(rows)} mutations turned the suite red.\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated keys, e.g. T1,E3")
    ap.add_argument("--out", help="write the table into this markdown file (between the table markers)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a stopped run still restores its file
    keys = set(args.only.split(",")) if args.only else None
    chosen = [m for m in MUTATIONS if keys is None or m.key in keys]
    dirty = subprocess.run(["git", "status", "--porcelain", *{m.path for m in chosen}], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        raise SystemExit(f"uncommitted changes in files to mutate:\n{dirty}")
    for m in chosen:  # every text is found before any test runs
        if (ROOT / m.path).read_text().count(m.old) != 1:
            raise SystemExit(f"{m.key}: the text to change is not found once in {m.path}")
    rows = []
    for m in chosen:
        rows.append(mutate(m))
        r = rows[-1]
        print(f"{r['key']:>4} {'SURVIVED' if r['green'] else 'red'}  {r['where']}  {r['red']}", flush=True)
    text = table(rows)
    print(text)
    if args.out:
        doc = Path(args.out)
        start, end = "<!-- mutations -->", "<!-- /mutations -->"
        body = doc.read_text() if doc.exists() else f"{start}\n{end}\n"
        head, rest = body.split(start, 1)
        doc.write_text(head + start + "\n" + text + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    main()
