"""benchmarks/first_hour.py (docs/first_hour.md's figures) runs end to end (a smoke run)."""
import json

from tests.test_benchmarks import script


def test_first_hour_quick_prints_help_times_and_both_comparisons(tmp_path, capsys):
    out = tmp_path / "f.json"
    assert script("first_hour").main(["--quick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| cspdet --help " in text and "| --augment " in text and "| --rect " in text
    report = json.loads(out.read_text())
    assert set(report["help"]["now"]) == {"cspdet --help", "cspdet --version", "cspdet detect --help",
                                          "cspdet train --help"}
    assert [r["run"] for r in report["augment"]] == ["plain", "--augment"]
    assert all(0 <= r["AP50"] <= 1 and r["inference ms"] > 0 for r in report["augment"] + report["rect"])
