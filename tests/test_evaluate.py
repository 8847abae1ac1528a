"""inktrace.evaluation and ``inktrace evaluate``: stroke and point matching on hand-made cases, the
rasterised centreline, the baseline on a rendered X and T, the table end to end on KanjiVG with a
tiny model, and bad usage (exit 2, one line). kanjivg and scikit-image are optional."""

import numpy as np
import pytest
import torch

from inktrace.cli import evaluate as evaluate_cli
from inktrace.cli.main import main as inktrace_main
from inktrace.data import Strokes, render_batch
from inktrace.data.svg import SvgError, kanjivg_dir
from inktrace.evaluation import (
    EvalSamples,
    baseline_method,
    evaluate,
    format_table,
    match_points,
    match_strokes,
    mean_distance,
    prf,
    rasterise,
    topo_points,
)
from inktrace.evaluation import baseline as baseline_module
from inktrace.evaluation.report import COLUMNS
from inktrace.model import InkTraceNet
from inktrace.vectorize import Stroke


def line(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y1]], dtype=float)


def test_mean_distance_is_exact_on_parallel_and_partial_lines():
    assert mean_distance(line(0, 0, 10, 0), line(0, 1, 10, 1)) == pytest.approx(1.0)
    # a half-length copy: each of its points lies on the long line; half of the long one is off
    assert mean_distance(line(0, 0, 5, 0), line(0, 0, 10, 0)) == pytest.approx(0.0)
    # from the long line, 41 points 0.25 px apart: 0 on [0, 5], x - 5 beyond -> 0.25 * 210 / 41
    assert mean_distance(line(0, 0, 10, 0), line(0, 0, 5, 0)) == pytest.approx(52.5 / 41)


def test_match_strokes_counts_one_to_one_pairs_with_exact_precision_recall_f1():
    true = [line(0, 5, 20, 5), line(5, 0, 5, 20), line(0, 15, 20, 15)]
    traced = [
        line(0, 5.5, 20, 5.5),  # true 0 (0.5 px off)
        line(0, 5.2, 20, 5.2),  # also near true 0, closer: takes it (greedy by distance)
        line(5.4, 0, 5.4, 20),  # true 1
        line(30, 30, 40, 40),  # nothing
    ]
    m = match_strokes(traced, true, threshold=1.5)
    assert (m.matched, m.traced, m.true) == (2, 4, 3)
    assert sorted((i, j) for i, j, _ in m.pairs) == [(1, 0), (2, 1)]
    assert m.precision == 0.5 and m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    # a stroke traced in two halves matches neither way: half of the true stroke is > 1.5 px off
    halves = [line(0, 5, 10, 5), line(10, 5, 20, 5)]
    m = match_strokes(halves, [line(0, 5, 20, 5)], threshold=1.5)
    assert (m.matched, m.precision, m.recall, m.f1) == (0, 0.0, 0.0, 0.0)
    # the threshold is strict, and nothing against nothing scores 1, 1, 1
    assert match_strokes([line(0, 1, 9, 1)], [line(0, 0, 9, 0)], threshold=1.0).matched == 0
    assert match_strokes([], [], 1.5).f1 == 1.0
    assert prf(0, 0, 4) == (1.0, 0.0, 0.0)


def test_match_points_is_one_to_one_within_the_radius():
    true = [[10, 10], [20, 10]]
    assert match_points([[11, 10], [10.5, 10], [23, 10], [40, 40]], true, 3.0) == 2
    assert match_points([[13.5, 10]], true, 3.0) == 0
    assert match_points([], true, 3.0) == 0


def test_rasterise_follows_the_target_rule_and_offsets_point_at_the_line():
    sk, off = rasterise([line(2, 3.3, 12, 3.3)], 16, 16)
    rows, cols = np.nonzero(sk)
    assert set(rows) == {3} and cols.min() == 2 and cols.max() == 12  # the end vertex: column 12
    assert np.allclose(off[1, rows, cols], -0.2) and np.allclose(off[0, 3, 3:11], 0.0)
    # a diagonal is 8-connected, one pixel per column
    sk, _ = rasterise([line(0.5, 0.5, 10.5, 10.5)], 16, 16)
    assert sk.sum() == 11 and all(sk[i, i] == 1 for i in range(11))


def test_topo_points_of_traced_strokes_use_the_engine_rules():
    t = [
        Stroke(line(4, 8, 28, 8), np.full(2, 2.0)),
        Stroke(line(16, 8, 16, 28), np.full(2, 2.0)),  # starts on the bar: a junction
    ]
    pts = topo_points(t, 32, 32)
    assert len(pts) == 4  # two bar ends, the stem's free end, the junction
    assert match_points(pts, [[4, 8], [28, 8], [16, 28], [16, 8]], 0.01) == 4


def shapes_samples(size: int = 64) -> EvalSamples:
    """An X and a T rendered by the engine, as an EvalSamples (clean = degraded)."""
    polys = [
        [line(12, 12, 52, 52), line(52, 12, 12, 52)],
        [line(10, 14, 54, 14), line(32, 14, 32, 54)],
    ]
    out = render_batch(Strokes.from_polylines([[(p, 3.0) for p in s] for s in polys]), size, size)
    image = out.pop("image")[:, 0].numpy()
    return EvalSamples(size, ["X", "T"], image, image, out, polys)


def test_the_baseline_on_a_rendered_x_and_t_gives_sensible_numbers():
    pytest.importorskip("skimage")
    r = evaluate(baseline_method(), shapes_samples(), "clean")
    assert r["images"] == 2
    assert r["recall"] > 0.8 and r["precision"] > 0.8 and r["centre_error"] < 1.0
    assert r["kp_recall"] >= 0.75
    assert 0.5 <= r["count_ratio"] <= 2.5
    assert r["predict_ms"] >= 0 and r["trace_ms"] >= 0


def test_the_table_runs_end_to_end_on_kanjivg_with_a_tiny_model(tmp_path, capsys, monkeypatch):
    try:  # the kanjivg distribution ships SVG files, no importable module
        kanjivg_dir()
    except SvgError:
        pytest.skip("kanjivg is not installed (pip install 'inktrace[kanjivg]')")
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pth"
    torch.save(InkTraceNet(embed_dim=4, num_layers=2).state_dict(), ckpt)
    argv = ["evaluate", "--checkpoint", str(ckpt), "--dataset", "kanjivg", "--size", "64"]
    argv += ["--count", "4", "--device", "cpu", "--cursive", "3"]
    if not baseline_module.available():
        argv.append("--no-baseline")
    assert inktrace_main(argv) == 0
    out = capsys.readouterr().out
    assert "kanjivg: 4 characters" in out and "strk F1" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("64 ")]
    # model and baseline on clean, degraded, the held-out pen and cursive words; the ceiling on
    # clean, the pen and cursive
    assert len(lines) == (11 if baseline_module.available() else 7)
    assert any("degraded" in ln for ln in lines) and any("model" in ln for ln in lines)
    ceiling = [ln.split() for ln in lines if "ceiling" in ln]
    assert [c[1] for c in ceiling] == ["clean", "drybrush", "cursive"]
    assert all(float(c[11]) >= 0.5 for c in ceiling)  # stroke F1 of the exact maps
    assert "+frag" in out and "-lost" in out


def test_format_table_writes_nan_as_a_dash():
    row = dict.fromkeys([k for k, _, _ in COLUMNS], 0.5)
    row.update(size=64, condition="clean", method="model", centre_error=float("nan"))
    text = format_table([row])
    assert text.splitlines()[2].split()[6] == "-"


def one_line_error(capsys, argv, words):
    assert evaluate_cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("inktrace evaluate: error:")
    for w in words:
        assert w in err


def test_missing_kanjivg_is_one_line_exit_2(capsys, monkeypatch):
    def missing():
        raise SvgError("kanjivg: not installed")

    monkeypatch.setattr(evaluate_cli, "kanjivg_dir", missing)
    one_line_error(capsys, ["--dataset", "kanjivg", "--no-baseline"], ["inktrace[kanjivg]"])


def test_missing_scikit_image_refuses_the_baseline_but_not_no_baseline(capsys, monkeypatch):
    monkeypatch.setattr(baseline_module, "skeletonize", None)
    monkeypatch.setattr(evaluate_cli, "kanjivg_dir", lambda: ".")
    one_line_error(capsys, ["--dataset", "kanjivg"], ["inktrace[eval]", "--no-baseline"])
    with pytest.raises(baseline_module.BaselineUnavailable):
        baseline_module.baseline_maps(np.ones((8, 8)))
    # --no-baseline gets past the check (and stops at the missing checkpoint file)
    argv = ["--dataset", "kanjivg", "--no-baseline", "--checkpoint", "gone.ckpt"]
    one_line_error(capsys, argv, ["gone.ckpt: no such checkpoint file"])
    one_line_error(capsys, [*argv[:3], "--no-model", "--no-ceiling"], ["nothing to evaluate"])
    one_line_error(capsys, [*argv, "--no-model"], ["--no-model with --checkpoint"])


@pytest.mark.parametrize(
    "argv, words",
    [
        ([], ["--dataset is required"]),
        (["--dataset", "kanjivg", "--count", "0"], ["--count 0"]),
        (["--dataset", "kanjivg", "--size", "8"], ["--size 8"]),
        (["--dataset", "kanjivg", "--precision", "fp16"], ["--precision fp16"]),
        (["--dataset", "kanjivg", "--bogus"], ["unknown option"]),
        (["--dataset", "kanjivg", "--cursive", "-1"], ["--cursive -1"]),
        (["--dataset", "kanjivg", "--pages", "1", "--cursive", "5"], ["--cursive goes without"]),
        (["--dataset", "/no/such/folder", "--no-baseline", "--checkpoint", "x.ckpt"], []),
    ],
)
def test_bad_usage_exits_2_with_one_line(capsys, argv, words):
    one_line_error(capsys, argv, words)


def test_precision_reaches_the_predictor_fp32_by_default():
    import argparse

    from inktrace.cli.evaluate import _predictor
    from inktrace.model.net import InkTraceNet

    model = InkTraceNet(embed_dim=8, num_layers=2)
    for given, runs in ((None, "fp32"), ("fp32", "fp32"), ("bf16", "bf16")):
        args = argparse.Namespace(precision=given, device="cpu", batch_size=None, tile_pages=False)
        assert _predictor(model, args, 16).precision == runs
