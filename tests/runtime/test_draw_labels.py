"""Labels stay inside the image and never cover one another (detections and track IDs alike)."""
import numpy as np

from detector.runtime.draw import draw_detections, label_spot


def place(boxes, shape, size=(60, 14)):
    taken = []
    for box in boxes:
        x, y = label_spot(size, box, shape, taken)
        taken.append((x, y, x + size[0], y + size[1]))
    return taken


def overlap(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def test_labels_of_boxes_at_the_edges_stay_inside():
    h, w = 120, 200
    for x1, y1, x2, y2 in place([(180, 0, 230, 40), (-10, 100, 30, 130), (0, 0, 10, 10), (150, 110, 199, 119)], (h, w)):
        assert 0 <= x1 and x2 <= w and 0 <= y1 and y2 <= h


def test_labels_of_stacked_boxes_do_not_overlap():
    boxes = [(50 + 3 * i, 40 + 3 * i, 120, 110) for i in range(6)]  # six nearly identical tracks
    rects = place(boxes, (240, 320))
    assert not any(overlap(a, b) for i, a in enumerate(rects) for b in rects[i + 1:]), rects


def test_a_label_at_the_right_edge_is_drawn_whole():
    img = np.zeros((100, 200, 3), np.uint8)
    draw_detections(img, np.array([[170, 50, 199, 90]], np.float32), np.array([0.9]), np.array([0]), ["a_long_name"])
    cols = np.nonzero(img[:, :, :].any(axis=(0, 2)))[0]
    assert cols.max() <= 199 and cols.min() < 170  # the label moved left to fit, not cut off at the edge
