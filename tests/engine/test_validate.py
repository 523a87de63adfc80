"""engine.validate's one loop: unreadable items are never run and are reported as skipped."""
from types import SimpleNamespace

import torch

from detector.engine.validate import predict_batches


def metas(*ids_and_errors):
    return [SimpleNamespace(image_id=i, error=e) for i, e in ids_and_errors]


def test_the_loop_runs_only_readable_items_of_tensor_and_list_batches():
    seen = []

    def predict(inputs, ms):
        seen.append((inputs.tolist() if isinstance(inputs, torch.Tensor) else list(inputs), [m.image_id for m in ms]))
        return [{"image_id": m.image_id} for m in ms]

    batches = [(torch.tensor([10, 11, 12]), metas((1, None), (2, "bad"), (3, None))),
               (["a", None], metas((4, None), (5, "gone"))),
               ([None], metas((6, "bad")))]
    skipped = set()
    dets = predict_batches(predict, batches, skipped=skipped)
    assert seen == [([10, 12], [1, 3]), (["a"], [4])]  # the all-unreadable batch is not run at all
    assert skipped == {2, 5, 6} and [d["image_id"] for d in dets] == [1, 3, 4]
