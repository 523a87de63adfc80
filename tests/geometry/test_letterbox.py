"""Letterbox: output geometry, padding, and boxes that move exactly with the pixels."""
import numpy as np
import pytest

from detector.geometry import LetterboxInfo, letterbox, letterbox_boxes, preprocess, scale_boxes

SHAPES = [((480, 640), 320), ((640, 480), (320, 320)), ((375, 500), (160, 224)), ((100, 60), (256, 128)),
          ((333, 333), (224, 160)), ((50, 900), 416)]


@pytest.mark.parametrize("orig,new", SHAPES)
def test_letterbox_fills_the_target_shape_with_centred_content(orig, new):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (*orig, 3), dtype=np.uint8)
    out, info = letterbox(img, new)
    nh, nw = (new, new) if isinstance(new, int) else new
    assert out.shape == (nh, nw, 3) and out.dtype == np.uint8
    assert info.shape == (nh, nw) and info.orig_shape == orig
    left, top = info.pad
    h1, w1 = round(orig[0] * info.ratio[1]), round(orig[1] * info.ratio[0])
    right, bottom = nw - w1 - left, nh - h1 - top
    # yolov5's split: the extra odd pixel goes after (right/bottom), never more than one.
    assert 0 <= right - left <= 1 and 0 <= bottom - top <= 1
    mask = np.ones((nh, nw), bool)
    mask[top:top + h1, left:left + w1] = False
    assert (out[mask] == 114).all()
    # The aspect ratio is kept: the two per-axis ratios differ only by the rounding of one pixel.
    assert abs(info.ratio[0] - info.ratio[1]) <= 1 / min(orig)
    assert h1 == nh or w1 == nw


def test_auto_pads_only_to_a_stride_multiple_and_scaleup_false_never_enlarges():
    img = np.zeros((300, 500, 3), np.uint8)
    out, info = letterbox(img, 640, auto=True, stride=32)
    assert out.shape[1] == 640 and out.shape[0] % 32 == 0 and out.shape[0] < 640
    small, info = letterbox(np.full((100, 60, 3), 7, np.uint8), 320, scaleup=False)
    assert info.ratio == (1.0, 1.0) and small.shape == (320, 320, 3)
    left, top = info.pad
    assert (small[top:top + 100, left:left + 60] == 7).all() and (left, top) == (130, 110)


def test_letterbox_accepts_grayscale_and_rejects_bad_arguments():
    out, _ = letterbox(np.zeros((40, 80), np.uint8), 64)
    assert out.shape == (64, 64) and out[0, 0] == 114
    with pytest.raises(ValueError, match="new_shape"):
        letterbox(np.zeros((4, 4, 3), np.uint8), (0, 32))
    with pytest.raises(ValueError, match="img"):
        letterbox(np.zeros((0, 4, 3), np.uint8), 32)


def random_case(rng):
    """An image with one filled rectangle (pixels [x1, x2) x [y1, y2)) and a target shape."""
    h0, w0 = (int(v) for v in rng.integers(40, 400, 2))
    nh, nw = (int(v) for v in rng.integers(64, 480, 2))
    r = min(nh / h0, nw / w0)
    min_side = int(np.ceil(max(4, 4 / r)))  # at least ~4 px after resizing, so it survives
    x1, y1 = int(rng.integers(0, w0 - min_side)), int(rng.integers(0, h0 - min_side))
    x2, y2 = int(rng.integers(x1 + min_side, w0 + 1)), int(rng.integers(y1 + min_side, h0 + 1))
    img = np.zeros((h0, w0, 3), np.uint8)
    img[y1:y2, x1:x2] = 255
    return img, np.array([[x1, y1, x2, y2]], np.float32), (nh, nw)


@pytest.mark.parametrize("seed", range(40))
def test_transformed_box_encloses_exactly_the_drawn_pixels(seed):
    rng = np.random.default_rng(seed)
    img, box, new = random_case(rng)
    out, info = letterbox(img, new)
    ys, xs = np.nonzero(out[..., 0] > 127)  # the padding (114) stays below the threshold
    found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)  # pixel edges
    moved = letterbox_boxes(box, info)[0]
    # The 50% crossing of the linear interpolation sits on the true edge; snapping it to pixel
    # edges costs at most half a pixel (300 seeds: max 0.5), well inside the 1 px asked for.
    np.testing.assert_allclose(moved, found, atol=0.5 + 1e-3)
    np.testing.assert_allclose(scale_boxes(moved[None], info)[0], box[0], atol=1e-3)


def test_round_trip_of_many_boxes_and_clipping():
    rng = np.random.default_rng(1)
    h0, w0 = 375, 500
    _, info = letterbox(np.zeros((h0, w0, 3), np.uint8), (320, 256))
    xy = rng.uniform(0, [w0, h0], (50, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 100, (50, 2))], 1).clip(0, [w0, h0, w0, h0])
    back = scale_boxes(letterbox_boxes(boxes, info), info)
    np.testing.assert_allclose(back, boxes, atol=1e-3)
    outside = np.array([[-50, -50, 10, 10], [490, 370, 900, 900]], np.float32)
    clipped = scale_boxes(letterbox_boxes(outside, info), info, (h0, w0))
    np.testing.assert_allclose(clipped, [[0, 0, 10, 10], [490, 370, w0, h0]], atol=1e-3)
    assert not np.array_equal(scale_boxes(letterbox_boxes(outside, info), info, clip=False), clipped)


def test_preprocess_is_rgb_chw_over_255_in_one_contiguous_float_blob():
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(120, 90, 3), (60, 200, 3)]]
    blob, infos = preprocess(images, (96, 128))
    assert blob.shape == (2, 3, 96, 128) and blob.dtype == np.float32 and blob.flags.c_contiguous
    for b, img, info in zip(blob, images, infos):
        boxed, ref_info = letterbox(img, (96, 128))
        assert info == ref_info and isinstance(info, LetterboxInfo)
        expected = boxed[..., ::-1].transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255)
        np.testing.assert_array_equal(b, expected)
    one, _ = preprocess(images[0], 64)
    assert one.shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="image 1"):
        preprocess([images[0], images[0][..., 0]], 64)
