"""Test-time augmentation maps every pass's boxes back to the input, and drops the levels yolov5
drops, on any backend (it works on the decoded rows)."""
import numpy as np

from detector.geometry.decode import HeadSpec
from detector.runtime import tta

SPEC = HeadSpec(strides=(8, 16, 32), anchors=(((10, 13),) * 3, ((30, 61),) * 3, ((116, 90),) * 3),
                scale_x_y=(1.0, 1.0, 1.0), num_classes=1)


def oracle(blob: np.ndarray) -> np.ndarray:
    """A backend that finds the bright square of each image: one row (cx, cy, w, h, 0.9, 1) on
    level 16's first row, every other row zero; [B, N, 6] with N as the head gives at this size."""
    b, _, h, w = blob.shape
    rows = np.zeros((b, sum(tta.level_rows(SPEC, (h, w))), 6), np.float32)
    first16 = tta.level_rows(SPEC, (h, w))[0]
    for i in range(b):
        ys, xs = np.nonzero(blob[i, 0] > 0.9)
        rows[i, first16] = [(xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2,
                            xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min(), 0.9, 1.0]
    return rows


def test_every_pass_finds_the_object_where_it_is_in_the_input():
    blob = np.full((2, 3, 128, 192), 0.3, np.float32)
    blob[0, :, 20:60, 30:90] = 1.0     # x 30..90, y 20..60
    blob[1, :, 70:120, 100:180] = 1.0  # x 100..180, y 70..120
    rows = tta.augmented_rows(oracle, blob, SPEC, same_shape=False)
    found = rows[rows[..., 4] > 0].reshape(2, 3, 6)  # one object per image per pass
    want = np.array([[60, 40, 60, 40], [140, 95, 80, 50]], np.float32)
    for i in range(2):
        assert np.allclose(found[i, :, :4], want[i], atol=2.5), found[i, :, :4]  # scaled passes: +-1 px each side
    fixed = tta.augmented_rows(oracle, blob, SPEC, same_shape=True)  # a fixed-size model: padded back to 128x192
    assert np.allclose(fixed[fixed[..., 4] > 0].reshape(2, 3, 6)[..., :4], found[..., :4], atol=1e-4)


def test_the_full_size_pass_loses_its_coarsest_level_and_the_smallest_its_finest():
    hw = (64, 64)
    counts = tta.level_rows(SPEC, hw)
    assert counts == [3 * 64, 3 * 16, 3 * 4]
    rows = np.concatenate([np.full((1, n, 1), level, np.float32) for level, n in enumerate(counts)], 1)
    assert np.unique(tta.drop_level(rows, SPEC, hw, coarsest=True)).tolist() == [0, 1]
    assert np.unique(tta.drop_level(rows, SPEC, hw, coarsest=False)).tolist() == [1, 2]
    assert tta.drop_level(rows[:, 1:], SPEC, hw, coarsest=True).shape[1] == sum(counts) - 1  # unknown layout: kept


def test_the_flipped_pass_is_the_middle_scale_as_in_yolov5():
    assert tta.SCALES == (1.0, 0.83, 0.67) and tta.FLIPS == (False, True, False)


def test_each_axis_is_scaled_back_by_its_own_ratio():
    """At 64x448 the scaled sizes round differently per axis (0.67: 42 / 64 = 0.656 high, 300 / 448
    = 0.670 wide), so an object far right and low lands right only if each axis is undone alone."""
    blob = np.full((1, 3, 64, 448), 0.3, np.float32)
    blob[0, :, 40:60, 380:440] = 1.0
    rows = tta.augmented_rows(oracle, blob, SPEC, same_shape=False)
    found = rows[rows[..., 4] > 0].reshape(3, 6)
    assert np.allclose(found[:, :4], [410, 50, 60, 20], atol=2.5), found[:, :4]
