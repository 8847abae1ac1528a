"""Strokes grouped per connected component (inktrace/vectorize/components.py) and the SVG's
``<g>`` per component (writers.py)."""

import xml.etree.ElementTree as ET

import numpy as np

from inktrace.vectorize import Stroke, to_svg
from inktrace.vectorize.components import stroke_components

NS = "{http://www.w3.org/2000/svg}"


def line(points, width=2.0):
    pts = np.array(points, dtype=np.float64)
    return Stroke(points=pts, widths=np.full(len(pts), width))


def test_a_stroke_ending_mid_segment_joins_and_a_far_one_does_not():
    strokes = [
        line([[10, 50], [90, 50]]),  # two vertices 80 px apart
        line([[200, 10], [200, 90]]),  # far away: its own component
        line([[50, 10], [50, 49.5]]),  # ends on the middle of the first: a T
        line([[53, 10], [60, 40]], width=8.0),  # 3 px from the T's stem at the top, wide: joined
        line([[200, 95.5], [200, 120]], width=1.0),  # a 5.5 px gap below the second: apart
    ]
    assert stroke_components(strokes) == [0, 1, 0, 0, 2]
    assert stroke_components([]) == []


def test_the_svg_draws_one_group_per_component_with_each_stroke_width():
    strokes = [line([[10, 50], [90, 50]], 3.0), line([[200, 10], [200, 90]], 5.0)]
    strokes.append(line([[50, 10], [50, 50]], 4.0))
    root = ET.fromstring(to_svg(strokes, 300, 200))
    groups = root.findall(f"./{NS}g/{NS}g")
    assert [g.get("id") for g in groups] == ["component-0", "component-1"]
    widths = [[p.get("stroke-width") for p in g.findall(f"{NS}path")] for g in groups]
    assert widths == [["3", "4"], ["5"]]
