"""Training faults through the real CLI: nothing silently wrong, nothing of another run touched."""
import shutil

import pytest

from detector.data import make_synthetic_dataset
from tests.robustness.helpers import assert_one_line_error, cspdet

TRAIN = ["--cfg", "csppeleenet-efm-nano", "--img-size", "64", "--batch-size", "8", "--workers", "0",
         "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("syn"), 8, 4, img_size=(64, 64), seed=1, sizes=(16, 40))


@pytest.mark.parametrize("flag, value", [("--lr0", "nan"), ("--lr0", "inf"), ("--lr0", "-1"), ("--epochs", "0"),
                                         ("--nbs", "0"), ("--val-interval", "0"), ("--batch-size", "0"),
                                         ("--img-size", "16"), ("--momentum", "2"), ("--workers", "-1")])
def test_bad_numbers_before_any_epoch(data, tmp_path, flag, value):
    r = cspdet("train", "--data", data, *TRAIN, flag, value, cwd=tmp_path)
    assert_one_line_error(r, flag, code=2)
    assert not (tmp_path / "runs").exists()


def test_a_size_off_the_stride(data, tmp_path):
    r = cspdet("train", "--data", data, *TRAIN, "--img-size", "33", cwd=tmp_path)
    assert_one_line_error(r, "--img-size 33", "stride 32", code=2)
    assert not (tmp_path / "runs").exists()


def test_a_diverging_loss_stops_with_the_last_good_checkpoint(data, tmp_path):
    r = cspdet("train", "--data", data, *TRAIN, "--epochs", "3", "--lr0", "1e9", "--optimizer", "sgd",
               "--warmup-epochs", "0", cwd=tmp_path)
    line = assert_one_line_error(r, "--lr0", code=1)
    assert "the loss is" in line or "NaN/inf" in line
    last = tmp_path / "runs" / "train" / "exp" / "weights" / "last.pt"
    if last.exists():  # an epoch finished before the loss broke: its weights are all finite
        import torch

        ckpt = torch.load(last, weights_only=True)
        assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())


def test_resume_refuses_a_checkpoint_outside_its_run(data, tmp_path):
    r = cspdet("train", "--data", data, *TRAIN, "--epochs", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "runs" / "train" / "exp"
    (run / "backup").mkdir()
    shutil.copy(run / "weights" / "last.pt", run / "backup" / "last.pt")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    r = cspdet("train", "--resume", run / "backup" / "last.pt", cwd=tmp_path)
    assert_one_line_error(r, "--resume", "backup", code=2)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in (tmp_path / "runs" / "train").iterdir()) == ["exp"]
