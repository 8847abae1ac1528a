"""An epoch's batches: rendered several at once without workers (the same batches to the bit),
and ahead in a background thread (``data.prefetch``: the same run to the bit, errors raised
where they happened, no thread left behind)."""

import threading
import time
from types import SimpleNamespace

import pytest
import torch
from helpers import StopAt
from test_training import same_weights, tiny

from inktrace import Config, ConfigError
from inktrace.training import DenseTrainer
from inktrace.training import batches as batches_module
from inktrace.training.batches import (
    GROUP_PIXELS,
    GroupedBatches,
    Prefetched,
    epoch_batches,
    group_samples,
    train_set,
)


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "inktrace-prefetch"]


def test_prefetched_keeps_the_order_and_takes_items_ahead():
    taken = []

    def source():
        for k in range(5):
            taken.append(k)
            yield k

    it = Prefetched(source(), depth=2)
    deadline = time.monotonic() + 5
    while len(taken) < 3 and time.monotonic() < deadline:  # two queued, one waiting to be put
        time.sleep(0.01)
    assert taken == [0, 1, 2]
    assert list(it) == [0, 1, 2, 3, 4]
    assert not prefetch_threads()


def test_prefetched_raises_the_sources_error_at_its_place_and_closes_early():
    def broken():
        yield 1
        raise KeyError("sample 7")

    it = Prefetched(broken())
    assert next(it) == 1
    with pytest.raises(KeyError, match="sample 7"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    endless = Prefetched(iter(int, 1), depth=3)  # never ends: close() must still stop it
    assert next(endless) == 0
    endless.close()
    assert not prefetch_threads()
    with pytest.raises(ValueError, match="depth"):
        Prefetched([], depth=0)


def test_a_prefetching_run_is_the_same_run_and_stops_cleanly(tmp_path):
    base = {"training.epochs": 2}
    a = DenseTrainer(tiny(tmp_path, overrides=base, sub="p0"), verbose=False)
    a.fit()
    b = DenseTrainer(
        tiny(tmp_path, overrides={**base, "data.prefetch": 2}, sub="p2"), verbose=False
    )
    b.fit()
    assert same_weights(a.model.state_dict(), b.model.state_dict())
    c = DenseTrainer(
        tiny(tmp_path, overrides={**base, "data.prefetch": 2}, sub="stop"),
        verbose=False,
        callbacks=[StopAt(2)],
    )
    assert c.fit()["status"] == "interrupted"
    assert not prefetch_threads()
    last = tmp_path / "stop" / "ck" / "dense" / "last.ckpt"
    assert torch.load(last, weights_only=True)["position"] == {"epoch": 0, "batch": 2}
    resumed = DenseTrainer(  # resumed mid-epoch, still prefetching: the same run to the bit
        tiny(tmp_path, overrides={**base, "data.prefetch": 2}, sub="stop"),
        resume=last,
        verbose=False,
    )
    assert resumed.fit()["status"] == "completed"
    assert same_weights(a.model.state_dict(), resumed.model.state_dict())
    assert not prefetch_threads()
    with pytest.raises(ConfigError, match=r"^data\.prefetch: 2 renders ahead .*num_workers: 1"):
        DenseTrainer(
            tiny(tmp_path, overrides={"data.prefetch": 2, "data.num_workers": 1}, sub="w"),
            verbose=False,
        )


@pytest.mark.parametrize("level", [2, 8])
def test_batches_rendered_together_are_the_batches_rendered_alone(level, monkeypatch):
    cfg = Config.from_yaml(
        "pretrained-strokes-ids",
        stage="ids",
        overrides={"data.train_size": 200, "data.img_size": 32, "data.cursive_fraction": 0.3},
    )
    data = train_set(cfg, level)  # curriculum, KanjiVG glyphs and cursive words, with pens
    data.set_level(level)
    data.set_epoch(1)
    # a group is GROUP_PIXELS of images: 256 samples of 64 px, 1,024 of 32 px (all 200 here)
    assert group_samples(data) == GROUP_PIXELS // (32 * 32) == 1024
    assert group_samples(SimpleNamespace(img_size=1024)) == 1
    monkeypatch.setattr(batches_module, "GROUP_PIXELS", 64 * 32 * 32)  # 64: groups of two below
    batches = epoch_batches(len(data), 24, 0, 1)  # 24 + 24 fit in 64; the last batch has 8
    sizes = []
    render = data.__getitems__
    monkeypatch.setattr(data, "__getitems__", lambda idx: sizes.append(len(idx)) or render(idx))
    grouped = list(GroupedBatches(data, batches))
    assert len(grouped) == len(batches) and group_samples(data) == 64
    assert sizes == [48, 48, 48, 56]  # 200 = 8 x 24 + 8: groups of two batches, the last of 3
    monkeypatch.undo()
    for batch, got in zip(batches, grouped):
        alone = data.__getitems__(batch)
        assert got.keys() == alone.keys()
        for key in alone:
            assert torch.equal(got[key], alone[key]), key
