"""The page benchmark's pages (inktrace/evaluation/pages.py): characters in their boxes, their true
strokes moved with them, and box-by-box scoring."""

import numpy as np
import pytest

import inktrace.cli.evaluate as cli_evaluate
from inktrace.cli.main import main as inktrace_main
from inktrace.data.svg import SvgError, kanjivg_dir
from inktrace.evaluation import choose_files, render_cursive, render_samples
from inktrace.evaluation.pages import (
    NOISE,
    RULE,
    compose_page,
    evaluate_pages,
    format_pages,
    score_page,
)
from inktrace.inference import Predictor
from inktrace.pretrained import load_pretrained
from inktrace.vectorize import Stroke


def test_a_page_holds_each_character_in_its_box_and_scores_its_truth():
    try:  # the kanjivg distribution ships SVG files, no importable module
        kanjivg_dir()
    except SvgError:
        pytest.skip("kanjivg is not installed (pip install 'inktrace[kanjivg]')")
    samples = render_samples(choose_files("kanjivg", 5, 0), 32, 0)
    page = compose_page(samples, [0, 1, 2, 3, 4], columns=3, seed=0)
    assert page.image.shape == (80, 120) and len(page.boxes) == 5
    assert page.boxes[4] == (40, 40, 80, 80)
    for k, (x0, y0, x1, y1) in enumerate(page.boxes):
        ink = page.image[y0 + 4 : y0 + 36, x0 + 4 : x0 + 36] < 0.5
        assert (ink == (samples.clean[k] < 0.5)).mean() > 0.95  # the character, noise aside
        for s in page.strokes[k]:
            assert (s >= [x0, y0]).all() and (s <= [x1, y1]).all()
    assert abs(float(np.median(page.image[38])) - RULE) < 0.1  # a ruled line under each row
    truth = [Stroke(s, np.ones(len(s))) for box in page.strokes for s in box]
    assert score_page(page, truth, 1.0) == {
        "matched": len(truth),
        "traced": len(truth),
        "true": len(truth),
    }
    shifted = [Stroke(s.points + [40.0, 0.0], s.widths) for s in truth]  # into the wrong boxes
    assert score_page(page, shifted, 1.0)["matched"] < len(truth) // 2


def test_evaluate_pages_scores_the_page_beside_one_by_one():
    samples = render_samples(choose_files("kanjivg", 6, 3), 64, 3)
    predictor = Predictor(load_pretrained(), device="cpu")
    result = evaluate_pages(predictor, samples, pages=2, columns=3, rows=1, tolerance=1.5)
    page, one, cut = result["page"], result["one by one"], result["crops"]
    assert page["characters"] == one["characters"] == cut["characters"] == 6
    assert page["pages"] == 2
    # the shipped model on clean held-out characters: every side traces most strokes
    assert page["f1"] > 0.6 and one["f1"] > 0.6 and abs(page["f1"] - one["f1"]) < 0.15
    assert cut["f1"] > 0.6 and cut["seconds per page"] > 0
    assert 0.7 < page["traced/true"] < 1.3 and page["seconds per page"] > 0
    assert page["peak MB"] > 50
    table = format_pages(result, (240, 160))
    row = next(line for line in table.splitlines() if "stroke F1, characters" in line)
    assert row.rstrip(" |").split(" | ")[1:4] == [
        f"{d['f1']:.3f} ({d['precision']:.3f} / {d['recall']:.3f})" for d in (page, cut, one)
    ]
    assert "6 characters, 0 cursive words" in table and "cursive words (P" not in table
    with pytest.raises(ValueError, match="need 9 characters"):
        evaluate_pages(predictor, samples, pages=3, columns=3, rows=1, tolerance=1.5)


def test_evaluate_pages_on_the_command_line(capsys, monkeypatch):
    monkeypatch.setattr(cli_evaluate, "PAGE_GRID", (3, 2))  # 14 x 20 by default: minutes here
    status = inktrace_main(["evaluate", "--dataset", "kanjivg", "--pages", "1", "--size", "32"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "pages of 120 x 80 px: 1 pages, 6 characters, 0 cursive words" in out
    assert "stroke F1, characters" in out
    monkeypatch.setattr(cli_evaluate, "PAGE_GRID", (3, 3))
    argv = ["evaluate", "--dataset", "kanjivg", "--pages", "1", "--size", "48"]
    assert inktrace_main([*argv, "--cursive-lines", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 pages, 6 characters, 3 cursive words" in out and "stroke F1, cursive words" in out
    for bad, words in [
        (["--pages", "0"], "--pages 0: must be at least 1"),
        (["--pages", "1", "--cursive-lines", "3"], "--cursive-lines 3: must be 0 to 2"),
        (["--cursive-lines", "1"], "--cursive-lines goes with --pages"),
    ]:
        assert inktrace_main(["evaluate", "--dataset", "kanjivg", *bad]) == 2
        assert words in capsys.readouterr().err


def test_cursive_lines_sit_under_the_characters_and_are_scored_apart():
    samples = render_samples(choose_files("kanjivg", 3, 0), 48, 0)
    words = render_cursive(6, 48, 0)
    assert len(words) == 6 and all(words.strokes) and words.clean.min() < 0.2
    again = render_cursive(6, 48, 0)
    np.testing.assert_array_equal(words.clean, again.clean)  # seeded
    assert not np.array_equal(words.clean, render_cursive(6, 48, 1).clean)
    with pytest.raises(ValueError, match="count must be at least 1, got 0"):
        render_cursive(0, 48)
    page = compose_page(samples, [0, 1, 2], columns=3, words=words, word_indices=[0, 1, 2])
    assert page.kinds == ["characters"] * 3 + ["cursive words"] * 3
    assert page.image.shape == (120, 180) and page.boxes[3] == (0, 60, 60, 120)
    truth = [[Stroke(s, np.ones(len(s))) for s in box] for box in page.strokes]
    chars, lines = sum(truth[:3], []), sum(truth[3:], [])
    assert score_page(page, chars + lines, 1.0, "cursive words") == {
        "matched": len(lines),
        "traced": len(lines),
        "true": len(lines),
    }
    assert score_page(page, chars, 1.0, "characters")["matched"] == len(chars)
    assert score_page(page, chars, 1.0, "cursive words")["matched"] == 0
    # a box's crop: its sample's square of page pixels (the paper's noise in it), its strokes
    # moved with it
    for k, source, i in [(0, samples, 0), (2, samples, 2), (4, words, 1)]:
        image, strokes = page.crop(k)
        assert image.shape == (48, 48)
        diff = np.abs(image - source.clean[i])  # the paper's noise, nothing else
        assert diff.max() < 6 * NOISE and diff.mean() > 0.3 * NOISE
        assert len(strokes) == len(source.strokes[i])
        for a, b in zip(strokes, source.strokes[i]):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    predictor = Predictor(load_pretrained(), device="cpu")
    result = evaluate_pages(predictor, samples, 1, 3, 2, 1.5, words=words, word_rows=1)
    page_side, one = result["page"], result["one by one"]
    assert page_side["words"] == 3 and page_side["characters"] == 3
    assert page_side["f1"] == page_side["characters f1"]
    assert 0.0 < page_side["cursive words f1"] <= 1.0 and 0.0 < one["cursive words f1"] <= 1.0
    with pytest.raises(ValueError, match="word_rows 2 must be below rows 2"):
        evaluate_pages(predictor, samples, 1, 3, 2, 1.5, words=words, word_rows=2)
