"""Widening a trained model (inktrace/model/widen.py): the wider net computes the narrow one's maps,
and its copied channels can grow apart."""

import pytest
import torch

from inktrace.model import InkTraceNet
from inktrace.model.net import group_count
from inktrace.model.widen import WidenError, channel_map, widen_state


def _net(embed_dim, norm="group", **more):
    settings = dict(embed_dim=embed_dim, num_layers=2, norm=norm, full_heads=True)
    settings.update(more)
    return InkTraceNet(**{"stroke_heads": True, **settings})


def _randomise(net, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.copy_(0.5 + torch.rand(t.shape, generator=gen))
                else:
                    t.copy_(torch.randn(t.shape, generator=gen) * 0.3)
    return net


@pytest.mark.parametrize(
    "norm,old,new", [("group", 16, 32), ("group", 8, 24), ("instance", 4, 12), ("batch", 8, 16)]
)
def test_the_wider_net_computes_the_narrow_nets_maps(norm, old, new):
    narrow = _randomise(_net(old, norm), seed=1).eval()
    wide = _net(new, norm).eval()
    grown = widen_state(narrow.state_dict(), wide.state_dict(), norm, seed=3)
    wide.load_state_dict(grown, strict=True)
    x = torch.rand(2, 1, 24, 40, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = narrow(x), wide(x)
    assert set(a) == set(b) and "identity" in a
    for key in a:
        scale = float(a[key].abs().max())
        assert float((a[key] - b[key]).abs().max()) <= 1e-3 * max(scale, 1.0), (
            key
        )  # (tangent: a unit vector)
    # the copies are not equal shares: a weight reading a copied channel differs between copies
    w = grown["enc_blocks.0.conv1.weight"]
    copies = channel_map(old, new, norm)
    first, second = (copies == 0).nonzero().flatten()[:2].tolist()
    assert not torch.allclose(w[:, first], w[:, second])
    # ... but they sum to the narrow weight: w_old[copies[o], i] = sum of w[o, k] over copies k of i
    summed = torch.zeros(new, old, *w.shape[2:]).index_add_(1, copies, w)
    expected = narrow.state_dict()["enc_blocks.0.conv1.weight"][copies]
    assert torch.allclose(summed, expected, atol=1e-6)


@pytest.mark.parametrize("old,new", [(16, 32), (8, 24), (4, 8), (4, 12), (12, 24)])
def test_each_new_group_copies_one_old_group_equally_often(old, new):
    copies = channel_map(old, new, "group")
    g_old, g_new = group_count("group", old), group_count("group", new)
    s_old, s_new = old // g_old, new // g_new
    for g in range(g_new):
        members = copies[g * s_new : (g + 1) * s_new]
        groups = set((members // s_old).tolist())
        assert len(groups) == 1, (g, members)
        counts = torch.bincount(members - members.min(), minlength=s_old)
        assert counts.min() == counts.max() == s_new // s_old
    assert sorted(set(copies.tolist())) == list(range(old))


def test_training_grows_the_copies_apart():
    narrow = _randomise(_net(8), seed=5)
    wide = _net(16)
    wide.load_state_dict(widen_state(narrow.state_dict(), wide.state_dict(), "group"))
    wide.train()
    opt = torch.optim.SGD(wide.parameters(), lr=0.1)
    out = wide(torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    sum(v.float().pow(2).mean() for v in out.values()).backward()
    opt.step()
    stem = wide.state_dict()["stem.0.weight"]  # output channels: the copies were equal rows
    copies = channel_map(8, 16, "group")
    first, second = (copies == 0).nonzero().flatten()[:2].tolist()
    assert not torch.allclose(stem[first], stem[second])


def test_what_cannot_be_widened_exactly_is_named():
    with pytest.raises(WidenError, match="not a whole multiple"):
        channel_map(16, 24, "group")
    narrow = _net(8)
    with pytest.raises(WidenError, match="model.embed_dim 12 is not a whole multiple of 8"):
        widen_state(narrow.state_dict(), _net(12).state_dict(), "group")
    # another num_layers: another layout, never a bottleneck grown at the wrong level
    shallow = _net(8, num_layers=1)
    with pytest.raises(WidenError, match="another layout"):
        widen_state(shallow.state_dict(), _net(8).state_dict(), "group")
    with pytest.raises(WidenError, match="another layout"):
        widen_state(narrow.state_dict(), _net(16, num_layers=3).state_dict(), "group")
    # the stem's input and the heads' outputs are not channels: they never grow
    state = dict(narrow.state_dict())
    state["heads.keypoints.2.weight"] = state["heads.keypoints.2.weight"][:1]
    state["heads.keypoints.2.bias"] = state["heads.keypoints.2.bias"][:1]
    with pytest.raises(WidenError, match=r"heads.keypoints.2.(weight|bias): dim 0"):
        widen_state(state, _net(16).state_dict(), "group")
    # every channel count grows by embed_dim's factor, not by any whole factor
    state = dict(narrow.state_dict())
    wide = _net(16).state_dict()
    state["bottleneck.0.conv1.weight"] = wide["bottleneck.0.conv1.weight"][:8, :8]
    with pytest.raises(WidenError, match="cannot grow"):
        widen_state(state, wide, "group")
    # a checkpoint without heads the wider model has: those start fresh (left out here)
    plain = _net(8, stroke_heads=False)
    grown = widen_state(plain.state_dict(), _net(16).state_dict(), "group")
    assert not any(k.startswith("heads.identity") for k in grown)
    assert "heads.skeleton.0.weight" in grown


def test_init_from_refuses_another_norm_or_depth_in_one_line(tmp_path):
    from inktrace.checkpoint import CheckpointError
    from inktrace.checkpoint.format import save_checkpoint
    from inktrace.training.resume import load_init_weights

    def save_model(net, path):
        save_checkpoint({"model": net.state_dict(), "config": {"model": net.hparams}}, path)

    class Log:
        def info(self, text):
            self.text = text

        def lines(self, text):
            pass

    for settings, words in (
        (dict(embed_dim=8, norm="instance"), "model.norm is 'instance' there"),
        (dict(embed_dim=8, num_layers=1), "model.num_layers is 1 there"),
    ):
        path = tmp_path / "narrow.ckpt"
        save_model(_net(**settings), path)
        with pytest.raises(CheckpointError) as info:
            load_init_weights(_net(16), path, "init", Log())
        message = str(info.value)
        assert message.startswith(f"init_from {path}: ") and words in message, message
        assert "\n" not in message
    path = tmp_path / "ok.ckpt"
    narrow = _randomise(_net(8), seed=4).eval()
    save_model(narrow, path)
    wide, log = _net(16).eval(), Log()
    report = load_init_weights(wide, path, "init", log)
    assert "widened" in log.text and not report["mismatched"] and not report["missing"]
    x = torch.rand(1, 1, 16, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = narrow(x), wide(x)
    assert all(torch.allclose(a[k], b[k], atol=1e-3 * max(1.0, float(a[k].abs().max()))) for k in a)
