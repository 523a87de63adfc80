"""The dynamic batcher and the admission count, in-process (no server)."""
import threading

import numpy as np
import pytest

from detector.serve.batching import Admission, Batcher, Overloaded


class Recorder:
    """An ``infer`` that records each batch and returns rows carrying each image's own value,
    so a caller handed another caller's rows is caught."""

    def __init__(self, gate: threading.Event | None = None):
        self.sizes, self.gate, self.entered = [], gate, threading.Event()

    def __call__(self, blob):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        self.sizes.append(len(blob))
        return blob[:, :1, 0, :1].reshape(len(blob), 1, 1) + np.zeros((len(blob), 3, 6), np.float32)


def blob(value: float, size: int = 8) -> np.ndarray:
    return np.full((1, 3, size, size), value, np.float32)


def test_concurrent_images_are_batched_up_to_max_batch_and_each_gets_its_own_rows():
    gate = threading.Event()
    rec = Recorder(gate)
    b = Batcher(rec, max_batch=4, max_wait=5.0, incoming=lambda: 0)
    first = b.submit(blob(-1))  # the thread takes it and blocks in infer until the gate opens
    assert rec.entered.wait(30)
    futs = [b.submit(blob(i)) for i in range(8)]
    gate.set()
    rows = [f.result(30) for f in futs]
    assert first.result(30)[0][0, 0, 0] == -1
    assert rec.sizes == [1, 4, 4]
    for i, (pred, info) in enumerate(rows):
        assert pred.shape == (1, 3, 6) and pred[0, 0, 0] == i
        assert info.size == 4
    b.close()


def test_a_lone_image_goes_at_once_and_waits_only_for_images_on_their_way():
    rec = Recorder()
    coming = [0]
    b = Batcher(rec, max_batch=8, max_wait=30.0, incoming=lambda: coming[0])
    assert b.submit(blob(1)).result(10)[1].size == 1  # nothing on its way: no 30 s wait
    coming[0] = 1
    f1 = b.submit(blob(2))
    threading.Event().wait(0.2)
    coming[0] = 0  # handed over, as the service does just before submit
    f2 = b.submit(blob(3))  # the batch waited for it
    assert f1.result(30)[1].size == 2 and f2.result(30)[0][0, 0, 0] == 3
    b.close()


def test_shapes_are_inferred_apart_and_an_error_fails_only_its_batch():
    calls = []

    def infer(x):
        calls.append(x.shape)
        if x.shape[-1] == 16:
            raise RuntimeError("backend failure")
        return np.zeros((len(x), 3, 6), np.float32)

    gate, entered = threading.Event(), threading.Event()
    b = Batcher(lambda x: (entered.set(), gate.wait(30), infer(x))[2], max_batch=8, max_wait=0.5,
                incoming=lambda: 0)
    f0 = b.submit(blob(0))
    assert entered.wait(30)
    ok, bad = b.submit(blob(1, 8)), b.submit(blob(1, 16))
    gate.set()
    f0.result(30)
    assert ok.result(30)[0].shape == (1, 3, 6)
    with pytest.raises(RuntimeError, match="backend failure"):
        bad.result(30)
    assert sorted(s[-1] for s in calls[1:]) == [8, 16]
    assert b.submit(blob(2)).result(30)[1].size == 1, "the thread must go on after a failure"
    b.close()


def test_admission_refuses_past_capacity_and_counts_images_on_their_way():
    a = Admission(2, retry_after=lambda n: 7)
    with a.slot() as s1:
        with a.slot():
            assert (a.held, a.preparing) == (2, 2)
            with pytest.raises(Overloaded) as e:
                a.slot().__enter__()
            assert e.value.retry_after == 7 and "--queue" in str(e.value)
            s1.handed()
            assert (a.held, a.preparing) == (2, 1)
        assert (a.held, a.preparing) == (1, 0)
    assert (a.held, a.preparing) == (0, 0)
    with pytest.raises(ValueError, match="--queue"):
        Admission(0)
