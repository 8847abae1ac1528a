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
    narrow, wide = _net(8), _net(16, num_layers=3)
    with pytest.raises(WidenError, match=r"cannot grow into|not a whole multiple"):
        widen_state(narrow.state_dict(), _net(12).state_dict(), "group")
    # tensors only the wider model has are left out, for the loader to report as missing
    grown = widen_state(narrow.state_dict(), wide.state_dict(), "group")
    assert set(grown) < set(wide.state_dict())
