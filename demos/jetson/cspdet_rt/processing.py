"""Pre- and post-processing in numpy and OpenCV, the same arithmetic as the cspdet package.

These mirror detector/geometry/letterbox.py, decode.py and nms.py line for line where it matters
(rounding of the letterbox pad, float32 decode constants, greedy class-aware NMS in float64), so
a model gives the same boxes here as on the desktop; tests/jetson compares the two. Python 3.6.
"""
import cv2
import numpy as np


def _scale(text):
    """The metadata's pixel scale, e.g. "1/255" -> 1/255.0."""
    if isinstance(text, (int, float)):
        return float(text)
    num, _, den = str(text).partition("/")
    return float(num) / float(den or 1)


class Letterbox(object):
    """How one frame was letterboxed: per-axis ``ratio`` (x, y), ``pad`` (left, top), ``orig_shape`` (h, w)."""

    def __init__(self, ratio, pad, orig_shape):
        self.ratio, self.pad, self.orig_shape = ratio, pad, orig_shape


def letterbox(img, size, color=114, scaleup=True, centre=True):
    """Resize ``img`` keeping its aspect ratio (INTER_LINEAR) and pad it to ``size`` (h, w).

    The ratio is the one cv2.resize really applies after rounding, and a centred pad is split as
    ``round(d - 0.1)`` before, ``round(d + 0.1)`` after, as in the package.
    """
    h0, w0 = img.shape[:2]
    nh, nw = size
    r = min(nh / h0, nw / w0)
    if not scaleup:
        r = min(r, 1.0)
    w1, h1 = max(1, int(round(w0 * r))), max(1, int(round(h0 * r)))
    dw, dh = (nw - w1) / 2, (nh - h1) / 2
    if (w1, h1) != (w0, h0):
        img = cv2.resize(img, (w1, h1), interpolation=cv2.INTER_LINEAR)
    if centre:
        top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
        left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    else:
        top, bottom, left, right = 0, nh - h1, 0, nw - w1
    if top or bottom or left or right:
        img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color,) * 3)
    return img, Letterbox((w1 / w0, h1 / h0), (left, top), (h0, w0))


def preprocess(img, info):
    """BGR uint8 frame -> (blob [1, 3, h, w] float32 RGB scaled as the metadata says, Letterbox)."""
    lb = info.letterbox
    boxed, meta = letterbox(img, info.img_size, int(lb.get("color", 114)), bool(lb.get("scaleup", True)),
                            bool(lb.get("centre", True)))
    blob = cv2.dnn.blobFromImage(boxed, scalefactor=_scale(lb.get("scale", "1/255")),
                                 swapRB=bool(lb.get("rgb", True)), crop=False)
    return blob, meta


def sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def level_constants(info, shapes):
    """(gain, offset, anchor_wh), each [N, 2] float32, rows ordered (level, anchor, y, x)."""
    gains, offsets, whs = [], [], []
    for (h, w), s, anchors, k in zip(shapes, info.strides, info.anchors, info.scale_x_y):
        a = len(anchors)
        gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
        grid = np.stack([gx, gy], -1).reshape(1, h * w, 2)
        offset = (grid - np.float32((k - 1) / 2)) * np.float32(s)
        offsets.append(np.broadcast_to(offset, (a, h * w, 2)).reshape(-1, 2))
        gains.append(np.full((a * h * w, 2), k * s, np.float32))
        whs.append(np.broadcast_to(np.asarray(anchors, np.float32).reshape(a, 1, 2), (a, h * w, 2)).reshape(-1, 2))
    return tuple(np.concatenate(v).astype(np.float32) for v in (gains, offsets, whs))


def decode(maps, info):
    """Raw maps [1, A * (5 + nc), H, W] per level -> decoded [N, 5 + nc] float32 rows
    (cx, cy, w, h in input pixels, objectness, class probabilities)."""
    no = 5 + info.num_classes
    parts = []
    for x, anchors in zip(maps, info.anchors):
        x = np.asarray(x, np.float32)
        a, h, w = len(anchors), x.shape[2], x.shape[3]
        parts.append(x.reshape(a, no, h * w).transpose(0, 2, 1).reshape(a * h * w, no))
    p = np.concatenate(parts, 0)
    gain, offset, anchor_wh = level_constants(info, [m.shape[-2:] for m in maps])
    out = np.empty_like(p)
    if info.new_coords:  # YOLOv4-CSP maps are logistic already
        out[:, 0:2] = p[:, 0:2] * gain + offset
        out[:, 2:4] = (2 * p[:, 2:4]) ** 2 * anchor_wh
        out[:, 4:] = p[:, 4:]
        return out
    out[:, 0:2] = sigmoid(p[:, 0:2]) * gain + offset
    with np.errstate(over="ignore"):
        out[:, 2:4] = np.exp(p[:, 2:4]) * anchor_wh
    out[:, 4:] = sigmoid(p[:, 4:])
    return out


def box_iou(box, boxes):
    iw = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    ih = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = iw.clip(0) * ih.clip(0)
    union = (box[2] - box[0]).clip(0) * (box[3] - box[1]).clip(0) \
        + (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_diou(box, boxes, beta=1.0):
    """Darknet's DIoU-NMS measure (``box_diounms``): IoU - (rho^2 / c^2) ** beta, rho the centre
    distance, c the enclosing box's diagonal; the package's ``geometry.boxes.box_diou``."""
    cw = np.maximum(box[2], boxes[:, 2]) - np.minimum(box[0], boxes[:, 0])
    ch = np.maximum(box[3], boxes[:, 3]) - np.minimum(box[1], boxes[:, 1])
    c2 = cw ** 2 + ch ** 2
    dx = box[0] + box[2] - boxes[:, 0] - boxes[:, 2]
    dy = box[1] + box[3] - boxes[:, 1] - boxes[:, 3]
    rho2 = (dx ** 2 + dy ** 2) / 4
    ratio = np.divide(rho2, c2, out=np.zeros_like(rho2), where=c2 > 0)
    return box_iou(box, boxes) - ratio ** beta


def nms(boxes, scores, class_ids, iou_thres, max_det, kind="iou", beta=1.0):
    """Greedy NMS, best first, equal scores in input order; class-aware unless ``class_ids`` is None;
    the overlap is IoU or, with ``kind="diou"``, Darknet's DIoU-NMS measure."""
    boxes = np.asarray(boxes, np.float64)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and len(keep) < max_det:
        i, rest = order[0], order[1:]
        keep.append(i)
        overlap = box_diou(boxes[i], boxes[rest], beta) if kind == "diou" else box_iou(boxes[i], boxes[rest])
        drop = overlap > iou_thres
        if class_ids is not None:
            drop &= class_ids[rest] == class_ids[i]
        order = rest[~drop]
    return np.asarray(keep, np.int64)


def postprocess(pred, conf_thres=0.25, iou_thres=0.45, max_det=300, agnostic=False, max_nms=30000, nms_kind="iou",
                beta_nms=1.0):
    """Decoded rows [N, 5 + nc] -> (boxes [K, 4] xyxy input pixels, scores [K], class ids [K]),
    score = objectness x class probability, best first."""
    keep = np.flatnonzero(pred[:, 4] > conf_thres)
    keep = keep[np.isfinite(pred[keep, :4]).all(1)]  # an overflowed exp is no box
    scores = pred[keep, 4:5] * pred[keep, 5:]
    cls = scores.argmax(1) if len(scores) else np.zeros(0, np.int64)
    score = scores[np.arange(len(cls)), cls]
    sel = np.flatnonzero(score > conf_thres)
    rows, cls, score = keep[sel], cls[sel].astype(np.int64), score[sel].astype(np.float32)
    if len(score) > max_nms:
        best = np.argsort(-score, kind="stable")[:max_nms]
        rows, cls, score = rows[best], cls[best], score[best]
    xywh = pred[rows, :4]
    boxes = np.empty_like(xywh)
    boxes[:, 0:2] = xywh[:, 0:2] - xywh[:, 2:4] / 2
    boxes[:, 2:4] = xywh[:, 0:2] + xywh[:, 2:4] / 2
    k = nms(boxes, score, None if agnostic else cls, iou_thres, max_det, nms_kind, beta_nms)
    return boxes[k], score[k], cls[k]


def scale_boxes(boxes, lb):
    """Letterboxed-input boxes [K, 4] -> original-frame boxes, clipped to the frame."""
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    (rx, ry), (left, top) = lb.ratio, lb.pad
    boxes[:, [0, 2]] = (boxes[:, [0, 2]] - left) / rx
    boxes[:, [1, 3]] = (boxes[:, [1, 3]] - top) / ry
    h, w = lb.orig_shape
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return boxes


PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
           (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0),
           (147, 69, 52), (255, 115, 100), (236, 24, 0), (255, 56, 132), (133, 0, 82), (255, 56, 203)]


def draw(img, boxes, scores, class_ids, names):
    """Boxes with 'name score' labels, drawn into ``img`` in place."""
    lw = max(int(round(sum(img.shape[:2]) / 2 * 0.003)), 2)
    for (x1, y1, x2, y2), score, c in zip(boxes.round().astype(int), scores, class_ids):
        color = PALETTE[int(c) % len(PALETTE)]
        cv2.rectangle(img, (x1, y1), (x2, y2), color, lw)
        label = "{} {:.2f}".format(names[c] if 0 <= c < len(names) else c, score)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, lw / 3, max(lw - 1, 1))
        y = y1 - base if y1 - th - base >= 0 else y1 + th + base
        cv2.rectangle(img, (x1, y - th - base // 2), (x1 + tw, y + base // 2), color, -1)
        cv2.putText(img, label, (x1, y), cv2.FONT_HERSHEY_SIMPLEX, lw / 3, (255, 255, 255), max(lw - 1, 1))
    return img


def draw_fps(img, fps, extra=""):
    """'NN.N fps' top left, on a dark box so it reads on any frame."""
    text = "{:.1f} fps{}".format(fps, "  " + extra if extra else "")
    scale = max(img.shape[0] / 720.0, 0.5)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(img, (0, 0), (tw + 12, th + base + 12), (0, 0, 0), -1)
    cv2.putText(img, text, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0), 2)
    return img
