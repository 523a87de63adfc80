"""The validation loss: the training loss on the maps the validation pass makes, per readable item."""
from types import SimpleNamespace

import pytest
import torch

from detector.engine.loss import YOLOLoss
from detector.engine.val_loss import ValLoss

from .helpers import SMALL, random_maps


def metas(*errors):
    return [SimpleNamespace(error=e) for e in errors]


def test_the_mean_over_batches_of_the_loss_terms_and_unreadable_items_leave_with_their_targets():
    loss = YOLOLoss(SMALL)
    maps = random_maps(SMALL, img=64, batch=3, seed=1)
    targets = torch.tensor([[0, 1, 0.3, 0.3, 0.2, 0.2], [1, 0, 0.5, 0.5, 0.4, 0.3], [2, 2, 0.6, 0.4, 0.3, 0.5],
                            [2, 0, 0.2, 0.7, 0.1, 0.1]])
    meter = ValLoss(loss)
    loader = [(torch.zeros(3, 3, 64, 64), targets, metas(None, "unreadable", None))] * 2
    for _, ms in meter.batches(loader):
        kept = [m for m in ms if m.error is None]  # what validate hands torch_predict's model
        meter([m[[0, 2]] for m in maps], kept)
    # item 1 is out: item 2 becomes item 1, and item 1's target is gone
    expected = loss([m[[0, 2]] for m in maps], torch.tensor([[0, 1, 0.3, 0.3, 0.2, 0.2], [1, 2, 0.6, 0.4, 0.3, 0.5],
                                                            [1, 0, 0.2, 0.7, 0.1, 0.1]]))[1]
    got = meter.means()
    assert list(got) == ["box_loss", "obj_loss", "cls_loss"] and meter.count == 2
    assert list(got.values()) == pytest.approx(expected.tolist(), rel=1e-6)
    assert ValLoss(loss).means() == {"box_loss": 0.0, "obj_loss": 0.0, "cls_loss": 0.0}


def test_evaluate_model_adds_the_loss_and_best_f1_precision_recall(tmp_path):
    """Through the loop training uses: the same terms as the loss on the model's own eval-mode maps."""
    from detector.data import build_dataset, create_dataloader, make_synthetic_dataset
    from detector.engine.validate import evaluate_model
    from detector.engine.finetune import initial_model

    data = make_synthetic_dataset(tmp_path, 1, 4, img_size=(64, 64), seed=0, sizes=(16, 30))
    loader = create_dataloader(build_dataset(data, "val", img_size=64), 4, shuffle=False)
    model = initial_model("", "csppeleenet-efm-nano", ["circle", "square", "triangle", "cross"])[0].train()
    loss = YOLOLoss(model)
    metrics = evaluate_model(model, loader, loss_fn=loss)
    assert model.training  # put back as it was
    images, targets, _ = next(iter(loader))
    with torch.no_grad():
        expected = loss(model.eval()(images), targets)[1].tolist()
    assert [metrics[k] for k in ("box_loss", "obj_loss", "cls_loss")] == pytest.approx(expected, rel=1e-5)
    assert 0 <= metrics["P"] <= 1 and 0 <= metrics["R"] <= 1 and "AP50" in metrics
    assert "box_loss" not in evaluate_model(model, loader)  # asked for only
