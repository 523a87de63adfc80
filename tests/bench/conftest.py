import pytest

from tests.conftest import shared_dir


@pytest.fixture
def darknet_cfg():
    """Path of a cfg in the shared Darknet folder, skipping when the folder is absent."""
    def find(name: str):
        path = shared_dir() / "darknet" / f"{name}.cfg"
        if not path.is_file():
            pytest.skip(f"{path} not found: set CSPDET_SHARED to the folder holding darknet/*.cfg")
        return path
    return find


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """A short 320x240 video of moving shapes."""
    from detector.data.synthetic import make_demo_video

    return make_demo_video(tmp_path_factory.mktemp("video") / "clip.avi", n_frames=6, img_size=(240, 320))
