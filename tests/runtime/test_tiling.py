"""Tiled inference (``--tile``): windows, mapping back, merging, every backend, batching, tracking."""
import numpy as np
import pytest

from detector import Detector
from detector.data.synthetic import DEFAULT_CLASSES, background, shape_mask, synthetic_image
from detector.geometry.boxes import box_iou
from detector.runtime.tiling import Tiler, tile_windows

from tests.conftest import REPO

SHAPES = REPO / "weights" / "cspdet-shapes.pt"
# The shipped model was trained on 11-50 px shapes in 128-px inputs: 256-px tiles of a large
# image letterboxed to 128 show 20-48 px shapes at that scale; the whole image at 128 shows dots.
TILED = dict(img_size=128, tile=256)


def small_objects(seed: int, hw=(1080, 1920), n=(15, 25)):
    """A large BGR image with 20-48 px shapes, and its boxes [K, 4] xyxy and classes [K]."""
    img, labels = synthetic_image(np.random.default_rng(seed), hw, DEFAULT_CLASSES, n, (20, 48), absolute=True)
    h, w = hw
    c = labels[:, 1:] * [w, h, w, h]
    return img, np.concatenate([c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2], 1), labels[:, 0].astype(int)


def recall(res, boxes, classes, thr=0.5) -> float:
    """Share of the objects some box of their class finds at IoU > thr."""
    iou = box_iou(res.xyxy, boxes) * (res.class_ids[:, None] == classes[None])
    return float((iou.max(0) > thr).mean()) if len(res) else 0.0


@pytest.mark.parametrize("hw", [(1080, 1920), (2160, 3840), (300, 200), (256, 256)])
@pytest.mark.parametrize("size, overlap", [(256, 0.2), (640, 0.0), (512, 0.5)])
def test_windows_cover_the_image_and_overlap_as_asked(hw, size, overlap):
    h, w = hw
    win = tile_windows(h, w, size, overlap)
    assert (win[:, :2] >= 0).all() and (win[:, 2] <= w).all() and (win[:, 3] <= h).all()
    covered = np.zeros(hw, bool)
    for x1, y1, x2, y2 in win:
        covered[y1:y2, x1:x2] = True
        assert (x2 - x1, y2 - y1) == (min(size, w), min(size, h))  # full tiles: the last shifted in
    assert covered.all()
    xs = np.unique(win[:, 0])
    if len(xs) > 2:  # neighbours repeat round(size * overlap) px; the last one at least that
        assert (np.diff(xs)[:-1] == size - round(size * overlap)).all() and np.diff(xs)[-1] <= size - round(size * overlap)
    tiler = Tiler(size, overlap)
    assert tiler.windows((h, w, 3))[0].tolist() == [0, 0, w, h]  # the whole image first
    assert len(tiler.windows((h, w, 3))) == (1 if len(win) == 1 else len(win) + 1)


def test_bad_tile_arguments_are_one_line_errors():
    for kwargs, text in [(dict(size=16), "tile size"), (dict(size=256, overlap=1.0), "overlap"),
                         (dict(size=256, merge="wbf"), "merge"), (dict(size=256, batch=0), "batch")]:
        with pytest.raises(ValueError, match=text):
            Tiler(**kwargs)
    with pytest.raises(ValueError, match="tiles"):
        Tiler(32, 0.9).windows((8000, 8000, 3))


@pytest.fixture(scope="module")
def scene():
    return small_objects(1)


@pytest.mark.parametrize("merge", ["edge", "nms", "nmm"])
def test_tiles_find_small_objects_the_whole_image_pass_misses(scene, merge):
    img, boxes, classes = scene
    plain = Detector(SHAPES, img_size=128)(img)
    tiled = Detector(SHAPES, **TILED, tile_merge=merge)(img)
    assert recall(plain, boxes, classes) < 0.1
    assert recall(tiled, boxes, classes) > 0.75
    assert (tiled.xyxy[:, 2:] <= [1920, 1080]).all() and (tiled.xyxy >= 0).all()
    assert len(tiled) < 1.3 * len(boxes)  # merged: not one box per window that saw the object


def test_a_tile_is_the_detector_on_that_crop_shifted(scene):
    """Tiles that do not overlap, no full pass, NMS: a tile's boxes are the crop's own, shifted."""
    img, boxes, _ = scene
    det = Detector(SHAPES, **TILED)
    det.tiler = Tiler(256, 0.0, merge="nms", full=False)
    tiled = det(img)
    windows = det.tiler.windows(img.shape)
    # away from the last row and column, which are shifted back to the edge and overlap
    inside = [((boxes[:, :2] >= w[:2]) & (boxes[:, 2:] <= w[2:])).all(1).sum() * (w[2] <= 1536 and w[3] <= 768 and w[0] != w[1])
              for w in windows]
    x1, y1, x2, y2 = windows[int(np.argmax(inside))]
    alone = Detector(SHAPES, img_size=128)(np.ascontiguousarray(img[y1:y2, x1:x2]))
    assert len(alone) >= 1
    iou = box_iou(alone.xyxy + [x1, y1, x1, y1], tiled.xyxy)
    assert (iou.max(1) > 0.999).all()
    assert not (box_iou(alone.xyxy + [y1, x1, y1, x1], tiled.xyxy).max(1) > 0.999).all()  # x and y apart


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv", "openvino"])
def test_every_backend_gives_the_torch_boxes(scene, backend):
    pytest.importorskip("openvino") if backend == "openvino" else None
    img, boxes, classes = scene
    ref = Detector(SHAPES, **TILED)(img)
    got = Detector(SHAPES, backend=backend, **TILED)(img)
    assert len(got) == len(ref) and recall(got, boxes, classes) > 0.75
    np.testing.assert_allclose(got.xyxy, ref.xyxy, atol=0.05)
    np.testing.assert_array_equal(got.class_ids, ref.class_ids)


class CallSpy:
    def __init__(self, backend):
        self.inner, self.calls = backend, []

    def __call__(self, blob):
        self.calls.append(len(blob))
        return self.inner(blob)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_tiles_are_batched_on_dynamic_backends_and_split_on_static_ones(scene, tmp_path):
    from detector.export import export_onnx
    from detector.models.loading import load_detector

    img = scene[0]
    det = Detector(SHAPES, backend="torch", **TILED)  # a backend that takes any batch
    n = len(det.tiler.windows(img.shape))
    det.backend = spy = CallSpy(det.backend)
    ref = det(img)
    assert spy.calls == [16] * (n // 16) + [n % 16] and n > 40
    onnx_path = export_onnx(load_detector(SHAPES), tmp_path / "b4.onnx", img_size=128, batch=4)
    det = Detector(onnx_path, tile=256)
    det.backend = spy = CallSpy(det.backend)
    got = det(img)
    assert spy.calls == [4] * -(-n // 4)  # padded to the static batch
    np.testing.assert_allclose(got.xyxy, ref.xyxy, atol=0.05)


def moving_shapes(n_frames=8, hw=(720, 1280)):
    """Frames of four 30-px shapes drifting across a large frame: (frames, their boxes per frame)."""
    rng = np.random.default_rng(5)
    bg = background(rng, hw)
    start = np.array([[200, 150], [700, 400], [1000, 180], [380, 560]], float)
    vel = np.array([[5, 2], [-4, 3], [3, -3], [5, 0]], float)
    frames, truth = [], []
    for t in range(n_frames):
        frame, rows = bg.copy(), []
        for k, (pos, colour) in enumerate(zip(start + t * vel, [(255, 255, 255), (0, 0, 0), (0, 0, 255), (255, 0, 0)])):
            mask = shape_mask(DEFAULT_CLASSES[k], hw, pos, 16, 0, 1.0)
            frame[mask > 0] = colour
            ys, xs = np.nonzero(mask)
            rows.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        frames.append(frame)
        truth.append(np.array(rows, float))
    return frames, truth


def test_tracking_on_tiles_keeps_one_id_per_small_object():
    frames, truth = moving_shapes()
    det = Detector(SHAPES, **TILED, conf_thres=0.1, agnostic=True)
    ids = {k: [] for k in range(4)}
    for res, boxes in zip(det.track(frames), truth):
        assert res.ids is not None
        iou = box_iou(boxes, res.xyxy)
        for k in range(4):
            if len(res) and iou[k].max() > 0.5:
                ids[k].append(int(res.ids[iou[k].argmax()]))
    for k, seen in ids.items():
        assert len(seen) >= 6, f"object {k} found in {len(seen)} of 8 frames"
        assert len(set(seen[1:])) == 1, f"object {k} changed ID: {seen}"  # a track starts on its 2nd frame
    assert len({seen[-1] for seen in ids.values()}) == 4
    plain = Detector(SHAPES, img_size=128, conf_thres=0.1)
    assert sum(len(r) for r in plain.track(frames)) < 4  # without tiles the shapes are dots
