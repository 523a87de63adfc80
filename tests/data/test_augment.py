"""Augmentation: boxes move exactly with the pixels (flip, affine, mosaic), and the knobs work.

Each property test draws rectangles in distinct colours, transforms image and boxes together,
then finds every rectangle again in the output by its colour and compares that pixel extent
with the transformed box.
"""
import cv2
import numpy as np
import pytest

from detector.data import AugmentConfig, box_candidates, hflip, mosaic4, random_affine
from detector.data.augment import augment_hsv, resize_to_fit, vflip
from detector.data.augment import pixels_to_normalised

from .helpers import COLOURS, colour_mask, draw_rects, extent, random_rects

SEEDS = range(12)


def check_boxes_follow_pixels(img, labels, tol, exact=False):
    """Every kept box equals its colour's pixel extent within ``tol`` px. Returns #boxes checked."""
    for cls, *box in labels:
        found = extent(colour_mask(img, COLOURS[int(cls)], tol=0 if exact else 50))
        assert found is not None, f"class {int(cls)} has a box but no pixels"
        np.testing.assert_allclose(box, found, atol=tol, err_msg=f"class {int(cls)}")
    return len(labels)


@pytest.mark.parametrize("seed", SEEDS)
def test_flips_move_boxes_exactly_with_the_pixels(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(40, 200, 2))
    img, labels = draw_rects(shape, random_rects(rng, shape, 5))
    for flip in (hflip, vflip):
        out, moved = flip(img, labels)
        assert check_boxes_follow_pixels(out, moved, tol=0, exact=True) == len(labels)
        back, again = flip(out, moved)
        np.testing.assert_array_equal(back, img)
        np.testing.assert_allclose(again, labels)


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_without_rotation_moves_boxes_with_the_pixels(seed):
    # Linear interpolation blends edge pixels; colour_mask's tolerance keeps pixels that are at
    # least ~80% the rectangle's colour, so the recovered extent is within ~1 px (allow 2).
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(60, 200, 2))
    img, labels = draw_rects(shape, random_rects(rng, shape, 6))
    out_shape = tuple(int(v) for v in rng.integers(60, 200, 2))
    out, moved = random_affine(img, labels, rng, degrees=0, translate=0.2, scale=0.5, out_shape=out_shape)
    assert out.shape == (*out_shape, 3)
    check_boxes_follow_pixels(out, moved, tol=2)


def check_rotated_boxes(img, labels):
    """Kept boxes enclose their rectangle's pixels and, away from the border, fit them tightly.

    Nearest-neighbour sampling keeps colours exact, so a pixel is in a rectangle's mask iff its
    centre maps inside that rectangle: the mask must lie inside the box (up to the half pixel
    around each centre), and the box (from the 4 moved corners) must be no more than ~1 px
    larger than the mask (the lattice may miss a sharp corner's tip). A rotated box cut by the
    border is only an upper bound (the cut-off corner no longer touches it): no tightness check.
    Returns the number of boxes checked for tightness.
    """
    h, w = img.shape[:2]
    tight = 0
    for cls, *box in labels:
        found = extent(colour_mask(img, COLOURS[int(cls)], tol=0))
        assert found is not None, f"class {int(cls)} has a box but no pixels"
        assert (found[:2] >= np.array(box[:2]) - 0.5).all() and (found[2:] <= np.array(box[2:]) + 0.5).all()
        if min(box[:2]) > 0 and box[2] < w and box[3] < h:
            np.testing.assert_allclose(box, found, atol=2)
            tight += 1
    return tight


def test_rotated_and_sheared_boxes_enclose_the_moved_pixels_tightly():
    tight = 0
    for seed in SEEDS:
        rng = np.random.default_rng(100 + seed)
        shape = tuple(int(v) for v in rng.integers(80, 200, 2))
        img, labels = draw_rects(shape, random_rects(rng, shape, 5, min_side=12))
        out, moved = random_affine(img, labels, rng, degrees=45, shear=10, translate=0.1, scale=0.3,
                                   interpolation=cv2.INTER_NEAREST)
        tight += check_rotated_boxes(out, moved)
    assert tight >= 20  # not vacuous: most rectangles stay inside


def mosaic_tiles(rng, out_shape):
    """Four tiles (fitting in out_shape) whose 12 rectangles all have different colours."""
    tiles, colour = [], 0
    for _ in range(4):
        shape = tuple(int(v) for v in rng.integers(50, 160, 2))
        rects = random_rects(rng, shape, 3, min_side=10)
        colours = COLOURS[colour:colour + len(rects)]
        img, labels = draw_rects(shape, rects, colours)
        labels[:, 0] += colour
        colour += len(rects)
        tiles.append(resize_to_fit(img, pixels_to_normalised(labels, shape), out_shape))
    return tiles


@pytest.mark.parametrize("seed", SEEDS)
def test_mosaic_boxes_follow_the_pixels(seed):
    rng = np.random.default_rng(200 + seed)
    out_shape = (128, 160)
    out, labels = mosaic4(mosaic_tiles(rng, out_shape), out_shape, rng, AugmentConfig(scale=0.3))
    assert out.shape == (128, 160, 3) and out.dtype == np.uint8
    assert len(set(labels[:, 0].tolist())) == len(labels)  # each rectangle at most once
    check_boxes_follow_pixels(out, labels, tol=2)


def test_mosaic_with_rotation_encloses_its_pixels_and_keeps_most_boxes():
    kept = 0
    for seed in SEEDS:
        rng = np.random.default_rng(300 + seed)
        tiles = mosaic_tiles(rng, (96, 96))
        out, labels = mosaic4(tiles, 96, rng, AugmentConfig(degrees=30, scale=0.2, translate=0.1),
                              interpolation=cv2.INTER_NEAREST)
        kept += check_rotated_boxes(out, labels)
    assert kept >= 20  # several of the 12 rectangles sit inside the output's window per seed


def test_identity_affine_changes_nothing_and_zoom_scales_about_the_centre():
    rng = np.random.default_rng(0)
    img, labels = draw_rects((64, 64), [(8, 8, 24, 40), (40, 30, 60, 50)])
    out, moved = random_affine(img, labels, rng, degrees=0, translate=0, scale=0)
    np.testing.assert_array_equal(out, img)
    np.testing.assert_allclose(moved, labels)
    out, moved = random_affine(img, labels, rng, translate=0, scale=0, out_shape=(32, 128))
    # Same scale, new canvas: the content is re-centred (shifted by the centre offset), then cut.
    np.testing.assert_allclose(moved[:, 1:], [[40, 0, 56, 24], [72, 14, 92, 32]])
    check_boxes_follow_pixels(out, moved, tol=0, exact=True)


def test_box_candidates_drop_tiny_squashed_and_mostly_cut_boxes():
    before = np.array([[0, 0, 50, 50]] * 5, np.float32)
    after = np.array([[0, 0, 50, 50],     # unchanged: kept
                      [0, 0, 1.5, 40],    # narrower than 2 px
                      [0, 0, 44, 2.1],    # aspect ratio 21 > 20
                      [0, 0, 15, 15],     # 9% of the area left
                      [0, 0, 20, 20]],    # 16%: kept
                     np.float32)
    assert box_candidates(before, after).tolist() == [True, False, False, False, True]


def test_hsv_jitter_is_seeded_keeps_grey_hue_free_and_zero_gains_are_identity():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    a = augment_hsv(img, np.random.default_rng(5), 0.5, 0.5, 0.5)
    b = augment_hsv(img, np.random.default_rng(5), 0.5, 0.5, 0.5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and not np.array_equal(a, img)
    assert augment_hsv(img, rng, 0, 0, 0) is img
    grey = np.full((4, 4, 3), 100, np.uint8)
    out = augment_hsv(grey, np.random.default_rng(1), 0.5, 0.0, 0.0)  # hue only: grey has none
    np.testing.assert_array_equal(out, grey)


def test_augment_config_defaults_and_validation():
    cfg = AugmentConfig()
    assert (cfg.hsv_h, cfg.hsv_s, cfg.hsv_v, cfg.translate, cfg.scale, cfg.fliplr, cfg.mosaic) == \
        (0.015, 0.7, 0.4, 0.1, 0.5, 0.5, 1.0)
    assert AugmentConfig.from_dict({"degrees": 5}, "hyp.yaml").degrees == 5
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"hyp.yaml: unknown augment key 'mixup'"):
        AugmentConfig.from_dict({"mixup": 0.1}, "hyp.yaml")
    with pytest.raises(ValueError, match="fliplr must be in"):
        AugmentConfig(fliplr=1.5)
    with pytest.raises(ValueError, match="degrees must be a non-negative"):
        AugmentConfig(degrees=-1)
    with pytest.raises(ValueError, match="scale must be in"):
        AugmentConfig(scale=1.0)
