"""Batches: the collate contract with the loss, multi-scale sizes, seeds, epochs, sharding."""
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

from detector.data import (AugmentConfig, DetectionBatchSampler, ImageMeta, build_dataset, collate,
                           create_dataloader, multi_scale_sizes)

from .helpers import write_rect_dataset, write_yaml


@pytest.fixture(scope="module")
def rect_yaml(tmp_path_factory):
    root = tmp_path_factory.mktemp("rects")
    write_rect_dataset(root, n=10, shape=(48, 64))
    return write_yaml(root)


def train_set(rect_yaml, **kw):
    return build_dataset(rect_yaml, "train", img_size=64, hyp=AugmentConfig(degrees=5), **kw)


def meta(i):
    return ImageMeta(f"{i}.jpg", i, (10, 10), (8, 8), None, i)


def test_collate_stacks_images_and_prefixes_targets_with_the_batch_index():
    labels = [torch.tensor([[1, .5, .5, .2, .2], [0, .1, .2, .1, .1]]), torch.zeros(0, 5),
              torch.tensor([[2, .3, .3, .3, .3]])]
    batch = [(torch.full((3, 8, 8), float(i)), lb, meta(i)) for i, lb in enumerate(labels)]
    images, targets, metas = collate(batch)
    assert images.shape == (3, 3, 8, 8) and images.dtype == torch.float32 and images[2].eq(2).all()
    assert targets.dtype == torch.float32 and targets.shape == (3, 6)
    torch.testing.assert_close(targets, torch.tensor([[0, 1, .5, .5, .2, .2], [0, 0, .1, .2, .1, .1],
                                                      [2, 2, .3, .3, .3, .3]]))
    assert [m.index for m in metas] == [0, 1, 2]
    _, empty, _ = collate([batch[1]])
    assert empty.shape == (0, 6)
    with pytest.raises(ValueError, match="differ in shape"):
        collate([batch[0], (torch.zeros(3, 8, 16), labels[1], meta(3))])


def test_loader_batches_are_collated_items(rect_yaml):
    ds = build_dataset(rect_yaml, "val", img_size=64)
    loader = create_dataloader(ds, batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    images, targets, metas = batches[1]
    assert [m.index for m in metas] == [4, 5, 6, 7]  # validation: no shuffle
    item = ds[5]
    assert torch.equal(images[1], item[0])
    assert torch.equal(targets[targets[:, 0] == 1][:, 1:], item[1])
    assert len(create_dataloader(ds, batch_size=4, drop_last=True)) == 2


def test_multi_scale_sizes_are_stride_multiples_within_half_to_one_and_a_half():
    assert multi_scale_sizes(640) == [(s, s) for s in range(320, 961, 32)]
    assert multi_scale_sizes(256) == [(s, s) for s in range(128, 385, 32)]
    assert multi_scale_sizes((256, 512)) == [(s, 2 * s) for s in range(128, 385, 32)]
    with pytest.raises(ValueError, match="no multiple of 32"):
        multi_scale_sizes(40, (0.9, 1.1))


def test_multi_scale_loader_draws_one_size_per_batch(rect_yaml):
    loader = create_dataloader(train_set(rect_yaml), batch_size=2, multi_scale=True)
    allowed = set(multi_scale_sizes(64))
    sizes = []
    for _ in range(2):
        for images, targets, metas in loader:
            size = tuple(images.shape[2:])
            assert size in allowed and all(m.shape == size for m in metas)
            assert ((targets[:, 2:] >= 0) & (targets[:, 2:] <= 1)).all()
            sizes.append(size)
    assert len(set(sizes)) > 1


def batches(loader):
    return [(images, targets, [m.index for m in metas]) for images, targets, metas in loader]


def assert_same(a, b):
    assert len(a) == len(b)
    for (ia, ta, ma), (ib, tb, mb) in zip(a, b):
        assert ma == mb and torch.equal(ia, ib) and torch.equal(ta, tb)


def test_same_seed_same_batches_whatever_the_workers(rect_yaml):
    kw = dict(batch_size=3, seed=11, multi_scale=True)
    ref = batches(create_dataloader(train_set(rect_yaml), **kw))
    assert_same(ref, batches(create_dataloader(train_set(rect_yaml), **kw)))
    assert_same(ref, batches(create_dataloader(train_set(rect_yaml), workers=2, **kw)))
    other = batches(create_dataloader(train_set(rect_yaml), batch_size=3, seed=12, multi_scale=True))
    assert [m for *_, m in other] != [m for *_, m in ref]


def test_each_iteration_is_a_new_epoch_and_set_epoch_resumes_it(rect_yaml):
    loader = create_dataloader(train_set(rect_yaml), batch_size=4, seed=3)
    epoch0, epoch1 = batches(loader), batches(loader)
    assert [m for *_, m in epoch0] != [m for *_, m in epoch1]
    resumed = create_dataloader(train_set(rect_yaml), batch_size=4, seed=3)
    resumed.set_epoch(1)  # a fresh process resuming at epoch 1 sees what the first run saw
    assert_same(epoch1, batches(resumed))
    loader.set_epoch(0)
    assert_same(epoch0, batches(loader))


def test_distributed_sampler_shards_the_data_and_ranks_agree_on_sizes(rect_yaml):
    ds = train_set(rect_yaml)
    with pytest.raises(ValueError, match="either sampler or distributed"):
        create_dataloader(ds, sampler=[0], distributed=True)
    runs = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=5)
        runs.append(batches(create_dataloader(ds, batch_size=2, sampler=sampler, seed=5, multi_scale=True)))
    indices = [sum((m for *_, m in run), []) for run in runs]
    assert sorted(indices[0] + indices[1]) == list(range(10)) and not set(indices[0]) & set(indices[1])
    assert [b[0].shape for b in runs[0]] == [b[0].shape for b in runs[1]]


def test_batch_sampler_validates_and_passes_the_epoch_on():
    class Recorder(list):
        epochs = []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

    sampler = DetectionBatchSampler(Recorder(range(5)), 2, img_size=32)
    sampler.set_epoch(4)
    keys = list(sampler)
    assert [[k.index for k in b] for b in keys] == [[0, 1], [2, 3], [4]] and Recorder.epochs == [4]
    assert keys[0][1].size == (32, 32) and keys[0][1].seed == (0, 4, 1)
    with pytest.raises(ValueError, match="batch_size"):
        DetectionBatchSampler(range(3), 0)


def test_batches_meet_the_loss_target_contract(rect_yaml):
    assign = pytest.importorskip("detector.engine.assign")
    ds = train_set(rect_yaml)
    for images, targets, metas in create_dataloader(ds, batch_size=4, multi_scale=True):
        assert assign.check_targets(targets, images.shape[0], ds.nc) is targets
        assert len(targets) and images.shape[0] == len(metas)
