"""Reading centreline SVG: a document's strokes as cubic Bézier pieces in SVG user units.

Every ``<path>`` (and ``<line>``, ``<polyline>``, ``<polygon>``) is read as stroke centrelines, one
stroke per subpath; lines, quadratic and cubic Béziers and elliptical arcs all become cubic pieces.
Element and group ``transform`` attributes are applied. Plain Python: no tensors, no randomness.
"""

from __future__ import annotations

import math
import os
import re
import stat
import xml.etree.ElementTree as ET

from ..errors import SvgError

__all__ = ["SvgError", "parse_path", "read_svg"]


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SEPARATORS = " \t\r\n,"
_ARGS = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}

Point = tuple[float, float]
Piece = list[Point]  # one cubic Bézier: start, two control points, end
Subpath = tuple[list[Piece], bool]  # its pieces, and whether it is closed
Matrix = tuple[float, float, float, float, float, float]  # a b c d e f (see _parse_transform)


def _tokens(d: str) -> list[tuple[str, list[float]]]:
    """(command letter, [numbers]) in order; arc flags may be written without separators
    ("0150")."""
    i, n = 0, len(d)
    out: list[tuple[str, list[float]]] = []
    cmd = None
    while True:
        while i < n and d[i] in _SEPARATORS:
            i += 1
        if i >= n:
            return out
        if d[i].isalpha():
            if d[i].upper() not in _ARGS:
                raise ValueError(f"unknown path command {d[i]!r} at position {i}")
            cmd = d[i]
            i += 1
            if cmd in "Zz":
                out.append((cmd, []))
                continue
        elif cmd is None or cmd in "Zz":
            raise ValueError(f"numbers without a command at position {i}")
        args: list[float] = []
        for k in range(_ARGS[cmd.upper()]):
            while i < n and d[i] in _SEPARATORS:
                i += 1
            if cmd.upper() == "A" and k in (3, 4):  # flags: a single 0 or 1
                if i >= n or d[i] not in "01":
                    raise ValueError(f"arc flag (0 or 1) expected at position {i}")
                args.append(float(d[i]))
                i += 1
                continue
            m = _NUMBER.match(d, i)
            if not m:
                found = repr(d[i]) if i < n else "the end"
                raise ValueError(
                    f"command {cmd!r} needs {_ARGS[cmd.upper()]} numbers, "
                    f"found {found} at position {i}"
                )
            args.append(float(m.group()))
            i = m.end()
        out.append((cmd, args))
        if cmd in "Mm":
            cmd = "l" if cmd == "m" else "L"  # further pairs after a move are line-tos


def _cubic(p0: Point, c1: Point, c2: Point, p3: Point) -> Piece:
    return [p0, c1, c2, p3]


def _arc_to_cubics(
    p0: Point, rx: float, ry: float, phi_deg: float, large: bool, sweep: bool, p1: Point
) -> list[Piece]:
    """SVG elliptical arc (endpoint form) as cubic pieces of at most 90 degrees (SVG spec F.6)."""
    if p0 == p1:
        return []
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0:
        return [_cubic(p0, *_third(p0, p1), p1)]
    phi = math.radians(phi_deg)
    cp, sp = math.cos(phi), math.sin(phi)
    dx, dy = (p0[0] - p1[0]) / 2, (p0[1] - p1[1]) / 2
    x1, y1 = cp * dx + sp * dy, -sp * dx + cp * dy
    lam = (x1 / rx) ** 2 + (y1 / ry) ** 2
    if lam > 1:
        rx, ry = rx * math.sqrt(lam), ry * math.sqrt(lam)
    num = rx * rx * ry * ry - rx * rx * y1 * y1 - ry * ry * x1 * x1
    den = rx * rx * y1 * y1 + ry * ry * x1 * x1
    coef = math.sqrt(max(0.0, num / den)) * (-1 if large == sweep else 1)
    cx1, cy1 = coef * rx * y1 / ry, -coef * ry * x1 / rx
    cx = cp * cx1 - sp * cy1 + (p0[0] + p1[0]) / 2
    cy = sp * cx1 + cp * cy1 + (p0[1] + p1[1]) / 2

    def angle(ux: float, uy: float, vx: float, vy: float) -> float:
        a = math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)
        return a

    t1 = angle(1, 0, (x1 - cx1) / rx, (y1 - cy1) / ry)
    dt = angle((x1 - cx1) / rx, (y1 - cy1) / ry, (-x1 - cx1) / rx, (-y1 - cy1) / ry)
    if not sweep and dt > 0:
        dt -= 2 * math.pi
    elif sweep and dt < 0:
        dt += 2 * math.pi
    n = max(1, math.ceil(abs(dt) / (math.pi / 2) - 1e-9))
    step = dt / n
    k = 4 / 3 * math.tan(step / 4)
    pieces = []

    def point(t: float) -> Point:
        ex, ey = rx * math.cos(t), ry * math.sin(t)
        return (cp * ex - sp * ey + cx, sp * ex + cp * ey + cy)

    def deriv(t: float) -> Point:
        ex, ey = -rx * math.sin(t), ry * math.cos(t)
        return (cp * ex - sp * ey, sp * ex + cp * ey)

    for i in range(n):
        a, b = t1 + i * step, t1 + (i + 1) * step
        pa, pb, da, db = point(a), point(b), deriv(a), deriv(b)
        pieces.append(
            [
                pa if i else p0,
                (pa[0] + k * da[0], pa[1] + k * da[1]),
                (pb[0] - k * db[0], pb[1] - k * db[1]),
                pb if i < n - 1 else p1,
            ]
        )
    return pieces


def _third(p: Point, q: Point) -> tuple[Point, Point]:
    return (p[0] + (q[0] - p[0]) / 3, p[1] + (q[1] - p[1]) / 3), (
        p[0] + 2 * (q[0] - p[0]) / 3,
        p[1] + 2 * (q[1] - p[1]) / 3,
    )


def parse_path(d: str) -> list[Subpath]:
    """Subpaths of an SVG path ``d`` as (cubic pieces, closed); raises ValueError on bad data."""
    strokes: list[Subpath] = []
    pieces: list[Piece] = []
    closed = False
    cur = start = (0.0, 0.0)
    last_ctrl: Point | None = None  # the control point that S and T reflect
    last_cmd = ""

    def flush() -> None:
        nonlocal pieces, closed
        if pieces:
            strokes.append((pieces, closed))
        pieces, closed = [], False

    for cmd, v in _tokens(d):
        up = cmd.upper()
        rel = cmd.islower()
        ox, oy = cur if rel else (0.0, 0.0)
        if up == "Z":
            if cur != start:
                pieces.append(_cubic(cur, *_third(cur, start), start))
            closed = bool(pieces)
            cur = start
            flush()
            last_ctrl = None
        elif up == "M":
            flush()
            cur = start = (ox + v[0], oy + v[1])
            last_ctrl = None
        elif up in "LHV":
            if up == "L":
                nxt = (ox + v[0], oy + v[1])
            elif up == "H":
                nxt = ((cur[0] if rel else 0.0) + v[0], cur[1])
            else:
                nxt = (cur[0], (cur[1] if rel else 0.0) + v[0])
            pieces.append(_cubic(cur, *_third(cur, nxt), nxt))
            cur, last_ctrl = nxt, None
        elif up == "C":
            c1, c2, nxt = (ox + v[0], oy + v[1]), (ox + v[2], oy + v[3]), (ox + v[4], oy + v[5])
            pieces.append(_cubic(cur, c1, c2, nxt))
            cur, last_ctrl = nxt, c2
        elif up == "S":
            c1 = (
                (2 * cur[0] - last_ctrl[0], 2 * cur[1] - last_ctrl[1])
                if last_cmd in "CS" and last_ctrl
                else cur
            )
            c2, nxt = (ox + v[0], oy + v[1]), (ox + v[2], oy + v[3])
            pieces.append(_cubic(cur, c1, c2, nxt))
            cur, last_ctrl = nxt, c2
        elif up in "QT":
            if up == "Q":
                q, nxt = (ox + v[0], oy + v[1]), (ox + v[2], oy + v[3])
            else:
                q = (
                    (2 * cur[0] - last_ctrl[0], 2 * cur[1] - last_ctrl[1])
                    if last_cmd in "QT" and last_ctrl
                    else cur
                )
                nxt = (ox + v[0], oy + v[1])
            c1 = (cur[0] + 2 / 3 * (q[0] - cur[0]), cur[1] + 2 / 3 * (q[1] - cur[1]))
            c2 = (nxt[0] + 2 / 3 * (q[0] - nxt[0]), nxt[1] + 2 / 3 * (q[1] - nxt[1]))
            pieces.append(_cubic(cur, c1, c2, nxt))
            cur, last_ctrl = nxt, q
        elif up == "A":
            nxt = (ox + v[5], oy + v[6])
            pieces.extend(_arc_to_cubics(cur, v[0], v[1], v[2], bool(v[3]), bool(v[4]), nxt))
            cur, last_ctrl = nxt, None
        last_cmd = up
    flush()
    return strokes


_TRANSFORM = re.compile(r"(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)")


def _parse_transform(text: str | None) -> Matrix:
    m = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)  # a b c d e f: x' = a x + c y + e, y' = b x + d y + f
    if not text:
        return m
    for name, args in _TRANSFORM.findall(text):
        v = [float(x) for x in re.split(r"[\s,]+", args.strip()) if x]
        t: Matrix
        if name == "matrix" and len(v) == 6:
            t = (v[0], v[1], v[2], v[3], v[4], v[5])
        elif name == "translate":
            t = (1, 0, 0, 1, v[0], v[1] if len(v) > 1 else 0.0)
        elif name == "scale":
            t = (v[0], 0, 0, v[1] if len(v) > 1 else v[0], 0, 0)
        elif name == "rotate":
            a = math.radians(v[0])
            cx, cy = (v[1], v[2]) if len(v) == 3 else (0.0, 0.0)
            c, s = math.cos(a), math.sin(a)
            t = (c, s, -s, c, cx - c * cx + s * cy, cy - s * cx - c * cy)
        elif name == "skewX":
            t = (1, 0, math.tan(math.radians(v[0])), 1, 0, 0)
        elif name == "skewY":
            t = (1, math.tan(math.radians(v[0])), 0, 1, 0, 0)
        else:
            raise ValueError(f"bad transform {name}({args})")
        if (
            len(v)
            < {"matrix": 6, "translate": 1, "scale": 1, "rotate": 1, "skewX": 1, "skewY": 1}[name]
        ):
            raise ValueError(f"bad transform {name}({args})")
        m = _compose(m, t)
    return m


def _compose(m: Matrix, t: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    A, B, C, D, E, F = t
    return (
        a * A + c * B,
        b * A + d * B,
        a * C + c * D,
        b * C + d * D,
        a * E + c * F + e,
        b * E + d * F + f,
    )


def _apply(m: Matrix, p: Point) -> Point:
    return (m[0] * p[0] + m[2] * p[1] + m[4], m[1] * p[0] + m[3] * p[1] + m[5])


def read_svg(
    path: str | os.PathLike,
) -> tuple[list[Subpath], tuple[float, float, float, float]]:
    """The strokes of a centreline SVG (cubic pieces in SVG user units) and its viewBox."""
    name = os.fspath(path)
    try:
        regular = stat.S_ISREG(os.stat(name).st_mode)
    except OSError as exc:
        raise SvgError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not regular:  # a FIFO would block the parser for ever, a device never end
        raise SvgError(f"{name}: not a regular file (a FIFO, device or socket)")
    try:
        root = ET.parse(name).getroot()
    except ET.ParseError as exc:
        raise SvgError(f"{name}: not a readable SVG file ({exc})") from None
    except OSError as exc:
        raise SvgError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not root.tag.endswith("svg"):
        raise SvgError(f"{name}: the root element is <{root.tag}>, not <svg>")
    vb = root.get("viewBox")
    try:
        if vb:
            box = tuple(float(x) for x in re.split(r"[\s,]+", vb.strip()))
        else:
            box = (
                0.0,
                0.0,
                float(re.sub("[a-z%]+$", "", root.get("width", "100"))),
                float(re.sub("[a-z%]+$", "", root.get("height", "100"))),
            )
        if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
            raise ValueError
    except ValueError:
        raise SvgError(f"{name}: bad viewBox/width/height {vb!r}") from None

    strokes: list[Subpath] = []

    def walk(el: ET.Element, m: Matrix) -> None:
        tag = el.tag.rsplit("}", 1)[-1]
        found: list[Subpath] = []
        try:
            m = _compose(m, _parse_transform(el.get("transform")))
            if tag == "path":
                found = parse_path(el.get("d", ""))
            elif tag == "line":
                p = (float(el.get("x1", 0)), float(el.get("y1", 0)))
                q = (float(el.get("x2", 0)), float(el.get("y2", 0)))
                found = [([_cubic(p, *_third(p, q), q)], False)]
            elif tag in ("polyline", "polygon"):
                nums = [float(x) for x in re.split(r"[\s,]+", el.get("points", "").strip()) if x]
                pts = list(zip(nums[0::2], nums[1::2]))
                if tag == "polygon" and pts:
                    pts.append(pts[0])
                found = [
                    ([_cubic(p, *_third(p, q), q) for p, q in zip(pts, pts[1:])], tag == "polygon")
                ]
        except (ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
            ident = el.get("id") or tag
            raise SvgError(f"{name}: <{tag} id={ident!r}>: {exc}") from None
        for pieces, closed in found:
            if pieces:
                strokes.append(([[_apply(m, p) for p in piece] for piece in pieces], closed))
        for child in el:
            walk(child, m)

    walk(root, (1.0, 0.0, 0.0, 1.0, 0.0, 0.0))
    if not strokes:
        raise SvgError(f"{name}: no strokes (no <path>, <line>, <polyline> or <polygon>)")
    return strokes, box
