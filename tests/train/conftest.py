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
                workers=0, warmup_epochs=0.5, project=str(tmp_path / "runs"), mosaic=0.5, val_interval=1,
                plots=False)  # plotting costs seconds a run; test_run_outputs_and_checkpoint_contents draws them
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


@pytest.fixture
def one_thread():
    """One intra-op thread: while other jobs shared the 2 cores, a pretraining epoch took 2.3 s
    on one thread and 8-37 s on two (each op's two threads wait for each other)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_darknet_cfg(classes: int = 2, width: int = 8, size: int = 96,
                     anchors: str = "16,22, 22,30, 28,36, 34,42, 40,48, 56,64") -> str:
    """A yolov3-tiny layout at 1/2 to 1/8 width (``width`` channels in the first conv): layers
    0-8 backbone to stride 16, a head at stride 16 (layers 9-12) and one at stride 8 after an
    upsample and a route to layer 6 (13-19). 20 layers; trains in seconds at 96 px."""
    w = [width * m for m in (1, 2, 4, 8, 16)]
    out = 3 * (classes + 5)

    def conv(filters, size=3, act="leaky", bn=True):
        return ("[convolutional]\n" + ("batch_normalize=1\n" if bn else "") +
                f"filters={filters}\nsize={size}\nstride=1\npad=1\nactivation={act}\n\n")

    def yolo(mask):
        return f"[yolo]\nmask={mask}\nanchors={anchors}\nclasses={classes}\nnum=6\nignore_thresh=.7\n\n"

    pool = "[maxpool]\nsize=2\nstride=2\n\n"
    return (f"[net]\nbatch=16\nwidth={size}\nheight={size}\nchannels=3\n\n"
            + conv(w[0]) + pool + conv(w[1]) + pool + conv(w[2]) + pool + conv(w[3]) + pool + conv(w[4])
            + conv(w[3], 1) + conv(w[4]) + conv(out, 1, "linear", bn=False) + yolo("3,4,5")
            + "[route]\nlayers=-4\n\n" + conv(w[2], 1) + "[upsample]\nstride=2\n\n" + "[route]\nlayers=-1,6\n\n"
            + conv(w[3]) + conv(out, 1, "linear", bn=False) + yolo("0,1,2"))
