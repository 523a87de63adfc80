"""Timings say what they are: the first call (warm-up) apart from the mean of the others."""
from detector.cli.detect import Stats
from detector.cli.val import warm_speed


def stats(*calls, unit="image"):
    s = Stats(unit)
    for pre, inf, post in calls:
        s.items += 1
        s.add(pre, inf, post)
    return s


def test_one_image_reports_its_first_call_not_a_mean():
    line = stats((1.0, 2800.0, 2.0)).line(3.0)
    assert line.startswith("1 image: first call 2803.0 ms (includes warm-up; inference 2800.0 ms)")
    assert "mean" not in line and "fps" not in line


def test_the_mean_leaves_the_first_call_out():
    line = stats((1.0, 2800.0, 2.0), (3.0, 100.0, 4.0), (5.0, 120.0, 6.0)).line(3.0)
    assert "3 items" in line and "first call 2803.0 ms (includes warm-up" in line
    assert "mean of the other 2: pre 4.0 ms, inference 110.0 ms, post 5.0 ms" in line
    assert stats(unit="frame").line(1.0) == "0 items, 0 skipped"


def test_val_speed_leaves_the_first_batch_out():
    first = [{"pre": 1.0, "inference": 900.0, "post": 1.0}] * 2
    rest = [[{"pre": 1.0, "inference": 10.0, "post": 2.0}] * 2, [{"pre": 3.0, "inference": 20.0, "post": 2.0}] * 2]
    line, speed = warm_speed([first, *rest], (2, 3, 64, 64))
    assert speed == {"pre": 2.0, "inference": 15.0, "nms": 2.0}
    assert line.startswith("Speed: 2.0ms pre-process, 15.0ms inference, 2.0ms NMS per image at shape (2, 3, 64, 64)")
    assert "warm-up: 900.0ms inference per image, left out" in line
    line, speed = warm_speed([first], (2, 3, 64, 64))
    assert speed["inference"] == 900.0 and line.endswith("(one batch: includes warm-up)")
