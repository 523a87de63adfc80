"""``cspdet train``, ``val`` and ``detect`` on CUDA (``--device 0``), through ``main([...])``."""
import numpy as np
import pytest

from detector.cli import main
from tests.conftest import REPO

pytestmark = pytest.mark.cuda

MEDIA = REPO / "demos" / "media"
WEIGHTS = REPO / "weights" / "cspdet-shapes.pt"


def test_train_with_amp_then_val_in_fp16_on_cuda(tiny_data, tmp_path, capsys):
    assert main(["train", "--model", "csppeleenet-efm-nano", "--data", str(tiny_data), "--epochs", "2",
                 "--batch-size", "8", "--img-size", "64", "--workers", "2", "--device", "0",
                 "--project", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "device cuda:0" in out
    best = tmp_path / "t" / "exp" / "weights" / "best.pt"
    assert best.is_file() and (tmp_path / "t" / "exp" / "results.csv").is_file()
    assert main(["val", "--weights", str(best), "--data", str(tiny_data), "--img-size", "64", "--device", "0",
                 "--half", "--project", str(tmp_path / "v")]) == 0
    assert "AP50" in capsys.readouterr().out and (tmp_path / "v" / "exp" / "metrics.json").is_file()


def labels(folder) -> dict[str, np.ndarray]:
    """--save-txt --save-conf files: per image rows (class, cx, cy, w, h, score)."""
    return {p.name: np.array([[float(v) for v in line.split()] for line in p.read_text().splitlines()]).reshape(-1, 6)
            for p in sorted(folder.glob("*.txt"))}


def test_detect_on_cuda_finds_what_the_cpu_finds(tmp_path, capsys):
    common = ["detect", "--weights", str(WEIGHTS), "--source", str(MEDIA / "*.jpg"), "--save-txt", "--save-conf",
              "--nosave", "--project", str(tmp_path)]
    assert main(common + ["--device", "cpu", "--name", "cpu"]) == 0
    assert main(common + ["--device", "0", "--name", "cuda"]) == 0
    assert main(common + ["--device", "0", "--half", "--name", "half"]) == 0
    assert "4 items" in capsys.readouterr().out
    ref = labels(tmp_path / "cpu" / "labels")
    assert sum(int((v[:, 5] > 0.35).sum()) for v in ref.values()) >= 4  # the bundled model finds the shapes
    for run in ("cuda", "half"):
        got = labels(tmp_path / run / "labels")
        assert got.keys() == ref.keys(), run
        for name, rows in ref.items():
            # a detection right at --conf-thres may fall either side; every confident one must match
            sure = rows[rows[:, 5] > 0.35]
            for row in sure:
                match = got[name][got[name][:, 0] == row[0]]
                assert len(match) and np.abs(match[:, 1:5] - row[1:5]).max(axis=1).min() < 2e-3, (run, name, row)
