import pytest

from detector.data import make_synthetic_dataset


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """16 train + 8 val synthetic 96x96 images (4 shape classes)."""
    root = tmp_path_factory.mktemp("syn")
    return make_synthetic_dataset(root, 16, 8, img_size=(96, 96), seed=3, sizes=(16, 40))


def tiny_cfg(data, tmp_path, **kw):
    from detector.engine.train import TrainConfig

    base = dict(model="csppeleenet-efm-nano", data=str(data), epochs=3, batch_size=8, nbs=8, img_size=64,
                workers=0, warmup_epochs=0.5, project=str(tmp_path / "runs"), mosaic=0.5, val_interval=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(autouse=True)
def _onednn_for_training():
    """Training steps run many times at one shape: oneDNN's per-shape setup pays off several
    times over against PyTorch's native conv backward (the suite default turns it off)."""
    import torch

    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = True
    yield
    torch.backends.mkldnn.enabled = before
