"""Throughput and latency of a live ``cspdet serve`` against ``cspdet bench``'s in-process fps.

For each backend a real server is started on 127.0.0.1 and driven by a real HTTP client
(``http.client``, one keep-alive connection per client thread) in bounded runs: --requests
requests at each --concurrency; ``cspdet bench`` times the same model and backend in-process on
the same image (batch 1) just before and just after each run, and once at batch --max-batch. Reports requests/s, p50/p99 latency, non-200 answers, the
server's RSS before and after the runs, and the ratio of the 16-client throughput to the
in-process fps. The client shares the machine's cores with the server, as on one host.

    python benchmarks/serve_bench.py --backends torch onnxruntime --plot docs/serve_bench.png

Results people look at: the table on stdout (and --json), the PNG of --plot.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident MiB now, peak resident MiB) of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def in_process_fps(weights: str, backend: str, image: Path, batch: int, runs: int, size: int | None) -> dict:
    """``cspdet bench``'s fps and per-stage ms for one model and backend."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, "-m", "detector", "bench", weights, "--backends", backend, "--image", str(image),
               "--batch", str(batch), "--runs", str(runs), "--warmup", "10", "--json", str(out), "--no-progress",
               *(["--img-size", str(size)] if size else [])]
        subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, text=True)
        row = json.loads(out.read_text())["rows"][0]
    return {"fps": row["fps"], "batch": batch, **{f"{k}_ms": v["median"] for k, v in row["ms"].items()}}


CPU_SCRIPT = """
import json, resource, sys, time
import cv2, numpy as np
from detector.runtime.predictor import Detector
weights, backend, image, size, n = sys.argv[1:6]
det = Detector(weights, backend=backend, img_size=int(size) or None)
data = open(image, "rb").read()
decode = lambda: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
img = decode()
out = {}
for name, step in (("bench", lambda: det(img)), ("decode_too", lambda: det(decode()))):
    for _ in range(10):
        step()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(int(n)):
        step()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    out[name] = {"cpu_ms": cpu * 1e3 / int(n), "fps": int(n) / (time.perf_counter() - t0)}
print(json.dumps(out))
"""


def in_process_cpu(weights: str, backend: str, image: Path, size: int | None, n: int = 200) -> dict:
    """CPU ms per image of the in-process pipeline, as ``cspdet bench`` times it (a decoded image:
    letterbox, inference, NMS) and with the JPEG decode the server also does. CPU time, unlike
    fps, hardly depends on what else the machine runs."""
    r = subprocess.run([sys.executable, "-c", CPU_SCRIPT, weights, backend, str(image), str(size or 0), str(n)],
                       check=True, cwd=REPO, capture_output=True, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    return json.loads(r.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, args: list[str], log: Path):
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-m", "detector", "serve", "--port", "0", *args], cwd=REPO,
                                     stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                     env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for line in log.read_text().splitlines():
                if '"listening"' in line:
                    url = json.loads(line)["url"]
                    self.host, self.port = url.removeprefix("http://").rsplit(":", 1)
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(60)


def drive(host: str, port: int, body: bytes, requests: int, clients: int) -> dict:
    """``requests`` POSTs of ``body`` from ``clients`` threads -> rate, latency percentiles, statuses."""
    lock, counter = threading.Lock(), [0]
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    def client():
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            with lock:
                if counter[0] >= requests:
                    break
                counter[0] += 1
            t0 = time.perf_counter()
            conn.request("POST", "/v1/detect", body, {"Content-Type": "image/jpeg"})
            r = conn.getresponse()
            r.read()
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1e3
    return {"clients": clients, "requests": len(lat), "seconds": wall, "rps": statuses.get(200, 0) / wall,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def run_backend(args, backend: str, body: bytes) -> dict:
    """One backend's measurements (see ``_measure``)."""
    weights = args.weights
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "onnxruntime" and not weights.endswith(".onnx"):
            # a free-batch export, so the server's batches run as batches (the one made on the fly has batch 1);
            # cspdet bench times the same file
            weights = str(Path(tmp) / "model.onnx")
            subprocess.run([sys.executable, "-m", "detector", "export", "--weights", args.weights, "--dynamic",
                            *(["--img-size", str(args.img_size)] if args.img_size else []), "-o", weights],
                           check=True, cwd=REPO, capture_output=True)
        return _measure(args, backend, weights, body)


def _measure(args, backend: str, weights: str, body: bytes) -> dict:
    """The served runs, with in-process fps measured just before and just after each (the server
    idle), so a machine whose load changes meets both sides alike; the ratio takes their mean."""
    size = ["--img-size", str(args.img_size)] if args.img_size else []
    bench = lambda batch: in_process_fps(weights, backend, args.image, batch, args.bench_runs, args.img_size)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(["--weights", weights, "--backend", backend, *size, "--max-batch", str(args.max_batch),
                         "--max-wait-ms", str(args.max_wait_ms), "--queue", str(args.queue)], Path(tmp) / "log")
        try:
            drive(server.host, server.port, body, 50, 4)  # warm: pools, allocator, kernels
            rss0 = rss_mb(server.proc.pid)
            batched = bench(args.max_batch)
            runs = []
            for c in args.concurrency:
                print(f"[{backend}] cspdet bench, {args.requests} requests at {c} clients, cspdet bench ...",
                      flush=True)
                before = bench(1)
                cpu0 = cpu_seconds(server.proc.pid)
                run = drive(server.host, server.port, body, args.requests, c)
                cpu = (cpu_seconds(server.proc.pid) - cpu0) * 1e3 / run["requests"]
                after = bench(1)
                run.update(rss_mb=rss_mb(server.proc.pid)[0], in_process_fps=(before["fps"] + after["fps"]) / 2,
                           in_process=[before, after], server_cpu_ms=cpu)
                runs.append(run)
            rss1 = rss_mb(server.proc.pid)
        finally:
            rc = server.stop()
    cpu = in_process_cpu(weights, backend, args.image, args.img_size, n=max(args.bench_runs, 5))
    return {"backend": backend, "in_process_batched": batched, "in_process_cpu": cpu, "runs": runs,
            "rss_mb": {"before": rss0[0], "after": rss1[0], "peak": rss1[1]}, "exit_code": rc}


def table(results: list[dict]) -> str:
    rows = ["| backend | clients | requests | req/s | p50 ms | p99 ms | non-200 | server RSS MiB | in-process fps "
            "(batch 1) | served / in-process | in-process fps (batched) | served / batched | server CPU ms / request "
            "| in-process CPU ms / image (+ decode) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        fpsb = r["in_process_batched"]["fps"]
        for run in r["runs"]:
            bad = sum(v for k, v in run["statuses"].items() if k != "200")
            fps1 = run["in_process_fps"]
            rows.append(f"| {r['backend']} | {run['clients']} | {run['requests']} | {run['rps']:.1f} | "
                        f"{run['p50_ms']:.1f} | {run['p99_ms']:.1f} | {bad} | {run['rss_mb']:.0f} | {fps1:.1f} | "
                        f"{run['rps'] / fps1:.0%} | {fpsb:.1f} | {run['rps'] / fpsb:.0%} | {run['server_cpu_ms']:.2f} | "
                        f"{r['in_process_cpu']['bench']['cpu_ms']:.2f} ({r['in_process_cpu']['decode_too']['cpu_ms']:.2f}) |")
    return "\n".join(rows)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.2))
    width = 0.8 / len(results)
    clients = [run["clients"] for run in results[0]["runs"]]
    ticks = np.arange(len(clients)) + width * (len(results) - 1) / 2, [f"{c} client{'s' * (c != 1)}" for c in clients]
    for i, r in enumerate(results):
        xs = np.arange(len(r["runs"])) + i * width
        bars = ax1.bar(xs, [run["rps"] for run in r["runs"]], width, label=f"{r['backend']}: served req/s")
        colour = bars.patches[0].get_facecolor()
        ax1.plot(xs, [run["in_process_fps"] for run in r["runs"]], "k_", ms=28, mew=2,
                 label="in-process fps (cspdet bench, batch 1)" if i == 0 else None)
        for x, run in zip(xs, r["runs"]):
            ax1.text(x, run["rps"], f"{run['rps'] / run['in_process_fps']:.0%}", ha="center", va="bottom", fontsize=8)
        for q, style in (("p50_ms", "o-"), ("p99_ms", "s--")):
            ax2.plot(clients, [run[q] for run in r["runs"]], style, color=colour, label=f"{r['backend']} {q[:3]}")
    ax1.set_xticks(*ticks)
    ax1.set_ylabel("requests/s (labels: served / in-process)")
    ax1.set_title(f"cspdet serve, {results[0]['runs'][0]['requests']} requests per run")
    top = max(max(run["rps"], run["in_process_fps"]) for r in results for run in r["runs"])
    ax1.set_ylim(0, top * 1.45)  # headroom: the legend sits above the bars, not on them
    ax1.legend(fontsize=8, loc="upper left")
    ax2.set_xscale("log", base=2)
    ax2.set_xticks(clients, [str(c) for c in clients])
    ax2.set_xlabel("concurrent clients")
    ax2.set_ylabel("latency ms")
    ax2.set_title("latency per request (client side)")
    ax2.legend(fontsize=8)
    for i, r in enumerate(results):  # CPU per image: what the machine's load hardly changes
        xs = np.arange(len(r["runs"])) + i * width
        ratio = [r["in_process_cpu"]["bench"]["cpu_ms"] / run["server_cpu_ms"] for run in r["runs"]]
        ax3.bar(xs, ratio, width, label=r["backend"])
        for x, v in zip(xs, ratio):
            ax3.text(x, v, f"{v:.0%}", ha="center", va="bottom", fontsize=8)
    ax3.axhline(0.85, color="k", ls=":", lw=1, label="85%")
    ax3.set_xticks(*ticks)
    ax3.set_ylabel("in-process CPU ms / served CPU ms per image")
    ax3.set_title("capacity by CPU time (load-independent)")
    ax3.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(REPO / "weights" / "cspdet-shapes.pt"))
    p.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"])
    p.add_argument("--image", type=Path, default=REPO / "demos" / "media" / "demo_000.jpg")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--img-size", type=int, default=None, help="inference size (default: the model's)")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--queue", type=int, default=32)
    p.add_argument("--bench-runs", type=int, default=300)
    p.add_argument("--json", type=Path)
    p.add_argument("--plot", type=Path)
    p.add_argument("--replot", type=Path, metavar="JSON", help="print and draw a saved --json run instead of running")
    args = p.parse_args(argv)
    if args.replot:
        results = json.loads(args.replot.read_text())["results"]
        print(table(results))
        if args.plot:
            plot(results, args.plot)
        return 0
    body = args.image.read_bytes()
    results = [run_backend(args, b, body) for b in args.backends]
    print(table(results))
    for r in results:
        m = r["rss_mb"]
        print(f"{r['backend']}: server RSS {m['before']:.0f} MiB after warm-up, {m['after']:.0f} MiB after "
              f"{len(r['runs']) * args.requests} requests (peak {m['peak']:.0f}); SIGTERM exit code {r['exit_code']}")
    load = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1-minute load {load:.1f} "
          "at the end (the client runs on the same cores)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "load": load, "cores": os.cpu_count()}, indent=1))
    if args.plot:
        plot(results, args.plot)
        print(f"saved {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
