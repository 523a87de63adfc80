"""benchmarks/serve_bench.py runs end to end (a smoke run: the structure of what it prints and
writes, not the figures)."""
import importlib.util
import json

from tests.conftest import REPO

from .conftest import need


def test_serve_bench_smoke_run(tmp_path, capsys):
    need("fastapi", "uvicorn")
    spec = importlib.util.spec_from_file_location("serve_bench", REPO / "benchmarks" / "serve_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    assert bench.main(["--backends", "torch", "--requests", "12", "--concurrency", "4", "--bench-runs", "5",
                       "--json", str(out), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "| torch | 4 | 12 |" in text and "server RSS" in text and "SIGTERM exit code 0" in text
    run = json.loads(out.read_text())["results"][0]
    assert [r["clients"] for r in run["runs"]] == [4] and run["runs"][0]["statuses"] == {"200": 12}
    assert run["in_process_cpu"]["bench"]["cpu_ms"] > 0 and run["runs"][0]["server_cpu_ms"] > 0
    assert png.stat().st_size > 10_000
    assert bench.main(["--replot", str(out)]) == 0 and "| torch | 4 | 12 |" in capsys.readouterr().out
