"""Hostile inputs of issue #24 that ended in a hang, a silent result or a vague error: each is now
a cap checked before the work, a one-line error naming the file and key, or a warning."""
import pytest

from detector.data.synthetic import MAX_OBJECTS, make_synthetic_dataset
from tests.robustness.helpers import assert_one_line_error, cspdet


def test_synth_objects_are_capped_before_any_image(tmp_path):
    r = cspdet("synth", tmp_path / "out", "--objects", "100000", "100000", timeout=120)
    assert_one_line_error(r, "--objects", f"must be between 0 and {MAX_OBJECTS}, got 100000", code=2)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=rf"objects \(1, {MAX_OBJECTS + 1}\): need 1 <= MIN <= MAX <= {MAX_OBJECTS}"):
        make_synthetic_dataset(tmp_path / "api", 1, 1, objects=(1, MAX_OBJECTS + 1))
