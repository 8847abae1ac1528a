"""Loss terms: minimal for a perfect prediction, growing with the error, masks honoured."""

import math

import pytest
import torch

from inktrace.data import SyntheticInk
from inktrace.losses import (
    LOG_NAMES,
    InkLoss,
    keypoint_loss,
    offset_loss,
    peak_mask,
    skeleton_loss,
    tangent_loss,
)

BIG = 30.0  # a logit saturating the sigmoid


@pytest.fixture(scope="module")
def batch():
    return SyntheticInk(6, 16, 32, seed=3).render(range(8))


def perfect(batch, full=True):
    out = {
        "skeleton_logits": (batch["skeleton"] * 2 - 1) * BIG,
        "tangent": batch["tangent"].clone(),
    }
    # the tangent target is zero outside its mask: any unit vector there
    out["tangent"][:, 0] += (batch["tangent_mask"] == 0).float()
    if full:
        out["keypoints_logits"] = (peak_mask(batch["keypoints"]).float() * 2 - 1) * BIG
        out["width"], out["offset"] = batch["width"].clone(), batch["offset"].clone()
    return out


def test_every_term_is_minimal_for_a_perfect_prediction(batch):
    terms = InkLoss()(perfect(batch), batch)
    assert set(terms) == {"skeleton", "keypoints", "tangent", "width", "offset", "total"}
    for name, value in terms.items():
        assert 0 <= float(value) < 1e-6, name


def test_structural_heads_give_two_terms_and_ignore_missing_weights(batch):
    terms = InkLoss({"skeleton": 1.0, "tangent": 3.0})(perfect(batch, full=False), batch)
    assert set(terms) == {"skeleton", "tangent", "total"}
    out = perfect(batch, full=False)
    out["tangent"] = -out["tangent"]
    terms = InkLoss({"skeleton": 1.0, "tangent": 3.0})(out, batch)
    assert math.isclose(
        float(terms["total"]),
        float(terms["skeleton"]) + 3.0 * float(terms["tangent"]),
        rel_tol=1e-6,
    )


def test_weights_come_from_the_config_and_unknown_terms_are_refused(batch):
    out = perfect(batch)
    out["width"] = out["width"] + 1.0
    out["offset"] = out["offset"] + 0.25
    terms = InkLoss({"width": 2.0, "offset": 0.0})(out, batch)
    assert math.isclose(
        float(terms["total"]),
        2.0 * float(terms["width"])
        + 10 * float(terms["skeleton"])
        + 5 * float(terms["keypoints"])
        + 2 * float(terms["tangent"]),
        rel_tol=1e-5,
    )
    assert math.isclose(float(terms["width"]), 0.5, rel_tol=1e-5)  # smooth L1 at 1 px error, beta 1
    assert set(LOG_NAMES) == {
        "skeleton",
        "keypoints",
        "tangent",
        "width",
        "offset",
        "ends",
        "identity",
    }
    with pytest.raises(ValueError, match="unknown term"):
        InkLoss({"skelton": 1.0})


def test_skeleton_loss_grows_with_error_and_balances_classes():
    target = torch.zeros(1, 16, 16)
    target[0, 8, 2:14] = 1
    good = (target * 2 - 1) * 5
    vals = []
    for flips in (0, 3, 6, 12):
        logits = good.clone()
        logits[0, 8, 2 : 2 + flips] = -5  # missed centreline pixels
        vals.append(float(skeleton_loss(logits, target)))
    assert vals == sorted(vals) and vals[-1] > 10 * vals[0]
    # predicting "no ink" everywhere is heavily penalised despite 95% of pixels being background
    assert float(skeleton_loss(torch.full_like(target, -5.0), target)) > 1.0


def test_keypoint_focal_loss_rewards_sharp_peaks(batch):
    heat = batch["keypoints"]
    peaks = peak_mask(heat).float()
    sharp = keypoint_loss((peaks * 2 - 1) * 6, heat)
    blurred = keypoint_loss(torch.logit(heat.clamp(1e-4, 1 - 1e-4)) * 0.5, heat)
    shifted = keypoint_loss((torch.roll(peaks, 2, -1) * 2 - 1) * 6, heat)
    assert float(sharp) < float(blurred) < float(shifted)
    # one peak per listed point (points closer than a pixel share one)
    assert int(peaks.sum()) <= int(batch["num_points"].sum())
    assert int(peaks.sum()) >= 0.9 * int(batch["num_points"].sum())


def test_tangent_loss_is_one_minus_cos_of_twice_the_angle_and_masked():
    theta = torch.full((1, 4, 4), 0.3)
    target = torch.stack([torch.cos(2 * theta), torch.sin(2 * theta)], 1)
    mask = torch.zeros(1, 4, 4)
    mask[0, :2] = 1
    for delta in (0.0, 0.2, math.pi / 4, math.pi / 2):
        pred = torch.stack([torch.cos(2 * (theta + delta)), torch.sin(2 * (theta + delta))], 1)
        pred[:, :, 2:] = -target[:, :, 2:]  # outside the mask: ignored
        assert math.isclose(
            float(tangent_loss(pred, target, mask)), 1 - math.cos(2 * delta), abs_tol=1e-6
        )
    # undirected: theta and theta + pi are the same direction
    pred = torch.stack([torch.cos(2 * (theta + math.pi)), torch.sin(2 * (theta + math.pi))], 1)
    assert float(tangent_loss(pred, target, mask)) < 1e-6


def test_offset_loss_counts_only_masked_pixels_and_grows():
    target = torch.zeros(1, 2, 4, 4)
    mask = torch.zeros(1, 4, 4)
    mask[0, 0, 0] = 1
    pred = torch.zeros(1, 2, 4, 4)
    pred[0, :, 1:] = 100.0  # unmasked garbage
    assert float(offset_loss(pred, target, mask)) == 0.0
    errs = []
    for e in (0.1, 0.4, 1.0, 3.0):
        pred[0, 0, 0, 0] = e
        errs.append(float(offset_loss(pred, target, mask)))
    assert errs == sorted(errs) and math.isclose(errs[0], 0.5 * 0.01 / 0.5, rel_tol=1e-5)
    assert math.isclose(errs[-1], 3.0 - 0.25, rel_tol=1e-5)


def test_losses_backpropagate_through_a_model(batch):
    from inktrace.model import InkTraceNet

    torch.manual_seed(0)
    model = InkTraceNet(embed_dim=8, num_layers=2)
    terms = InkLoss()(model(batch["image"]), batch)
    terms["total"].backward()
    assert all(torch.isfinite(v) for v in terms.values())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_identity_loss_is_zero_for_a_perfect_embedding_and_large_for_a_collapsed_one():
    from inktrace.losses import identity_loss

    stroke = torch.zeros(1, 8, 8)
    stroke[0, 1, :] = 1  # stroke 1: row 1
    stroke[0, 5, :] = 2  # stroke 2: row 5
    mask = (stroke > 0).float()
    good = torch.zeros(1, 2, 8, 8)
    good[0, 0] = (stroke[0] == 1).float() * 3.0  # the two strokes 3 apart: beyond 2 * push
    good[0, 1] = (stroke[0] == 2).float() * 3.0
    assert float(identity_loss(good, stroke, mask)) < 0.01  # only the tiny mean regulariser
    collapsed = torch.zeros(1, 2, 8, 8)
    # both means at 0: the push term is (2 * 1.5 - 0)^2 = 9
    assert math.isclose(float(identity_loss(collapsed, stroke, mask)), 9.0, rel_tol=1e-4)
    assert float(identity_loss(good, stroke * 0, mask)) == 0.0


def test_identity_loss_pushes_touching_strokes_twice_and_trains_their_junction():
    from inktrace.losses import _touching_pairs, identity_loss

    stroke = torch.zeros(1, 8, 8)
    stroke[0, 1, :] = 1  # stroke 1: row 1
    stroke[0, 2:, 4] = 2  # stroke 2: column 4 from row 2 down, touching stroke 1 (a T)
    stroke[0, 6, 6:] = 3  # stroke 3: apart from both
    touch = _touching_pairs(stroke.long())[0]
    assert {(int(a), int(b)) for a, b in touch.nonzero()} == {(1, 2), (2, 1)}
    mask = (stroke > 0).float()
    collapsed = torch.zeros(1, 2, 8, 8)
    # all three means at 0: every pair is pushed (9 each), the touching pair once more (9)
    assert math.isclose(float(identity_loss(collapsed, stroke, mask)), 18.0, rel_tol=1e-4)
    # the junction pixel (1, 4) counts, with the mask over it: an embedding off there is pulled
    good = torch.zeros(1, 2, 8, 8)
    good[0, 0] = (stroke[0] == 1).float() * 3.0
    good[0, 1] = (stroke[0] == 2).float() * 3.0
    good[0, :, 6, 6:] = -3.0
    assert float(identity_loss(good, stroke, mask)) < 0.01
    wrong = good.clone()
    wrong[0, 0, 1, 4] = 0.0  # the junction pixel of stroke 1 looks like nothing
    assert float(identity_loss(wrong, stroke, mask)) > 0.1


def test_ink_loss_trains_the_identity_over_the_whole_band_not_the_tangent_mask():
    """InkLoss hands ``mask`` (junctions included) to the identity term: an embedding wrong only
    where ``tangent_mask`` is off still costs."""
    from inktrace.losses import InkLoss, identity_loss

    stroke = torch.zeros(1, 8, 8)
    stroke[0, 1, :] = 1
    stroke[0, 2:, 4] = 2
    mask = (stroke > 0).float()
    tangent_mask = mask.clone()
    tangent_mask[0, 1, 4] = 0.0  # the junction: no tangent there
    emb = torch.zeros(1, 2, 8, 8)
    emb[0, 0] = (stroke[0] == 1).float() * 3.0
    emb[0, 1] = (stroke[0] == 2).float() * 3.0
    emb[0, 0, 1, 4] = 0.0  # wrong only at the junction
    batch = {
        "stroke": stroke,
        "mask": mask,
        "tangent_mask": tangent_mask,
        "skeleton": mask,
        "tangent": torch.zeros(1, 2, 8, 8),
    }
    out = {"skeleton_logits": torch.zeros(1, 8, 8), "tangent": torch.zeros(1, 2, 8, 8)}
    terms = InkLoss()({**out, "identity": emb}, batch)["identity"]
    assert float(terms) == pytest.approx(float(identity_loss(emb, stroke, mask)))
    assert float(terms) > float(identity_loss(emb, stroke, tangent_mask)) + 0.05
