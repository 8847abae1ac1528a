"""The page benchmark's pages (inktrace/evaluation/pages.py): characters in their boxes, their true
strokes moved with them, and box-by-box scoring."""

import numpy as np
import pytest

from inktrace.data.svg import SvgError, kanjivg_dir
from inktrace.evaluation import choose_files, render_samples
from inktrace.evaluation.pages import RULE, compose_page, score_page
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
