"""A bench row's "% of peak": its GFLOP/s over the best single conv of any runtime in the run, per precision."""
from detector.bench.measure import Report, Row
from detector.bench.report import latency_table, print_report
from detector.bench.roofline import GFLOP, Roofline
from detector.bench.timing import Stat


def roof(name, ms):
    return Roofline(name, 2, Stat.of([ms]))


def row(backend, infer_ms, gflops=1.0):
    s = Stat.of([infer_ms])
    return Row("m", "detector", backend, backend, 416, 1, s, s, s, s, gflops, 1.0)


def test_each_row_is_measured_against_the_best_runtime_of_its_precision(capsys):
    rooflines = {"torch": roof("torch", 100.0), "openvino": roof("openvino", 50.0),
                 "openvino-half": roof("openvino-half", 25.0), "onnxruntime": roof("onnxruntime", 80.0)}
    report = Report({"cpu": "x", "physical_cores": 2, "logical_cpus": 2, "threads": 2, "versions": {}},
                    {}, rooflines, [], [])
    assert report.peaks == {"f32": ("openvino", GFLOP / 0.05), "half": ("openvino-half", GFLOP / 0.025)}
    # what run_bench does with them
    rows = [row("torch", 10.0), row("openvino-half", 5.0)]
    for r, p in zip(rows, ("f32", "half")):
        r.peak_gflops_s = report.peaks[p][1]
    assert abs(rows[0].peak_ratio - (1.0 / 0.010) / (GFLOP / 0.05)) < 1e-9  # torch's own roof is not the peak
    assert rows[1].peak_ratio == (1.0 / 0.005) / (GFLOP / 0.025)
    assert f"{100 * rows[0].peak_ratio:.0f}%" in latency_table(rows).splitlines()[2]
    report.rows = rows
    print_report(report)
    assert "Peak of this run" in capsys.readouterr().out and report.to_dict()["peaks"]["f32"]["backend"] == "openvino"


def test_the_first_pass_is_kept_apart_from_the_medians():
    import time

    from detector.bench.measure import time_pipeline

    class Runner:
        calls = 0

        def preprocess(self, images):
            return images, None

        def infer(self, blob):
            Runner.calls += 1
            time.sleep(0.2 if Runner.calls == 1 else 0.001)  # a slow first call: the warm-up
            return blob

        def postprocess(self, out, infos, images):
            return 0

    stats, _ = time_pipeline(Runner(), [None], runs=5, warmup=2)
    assert stats["first"].n == 1 and stats["first"].median >= 200 and stats["total"].n == 5
    assert stats["total"].median < 100  # the first call is not in the medians
    assert "first" not in time_pipeline(Runner(), [None], runs=3, warmup=0)[0]
