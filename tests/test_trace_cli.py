"""`inktrace trace` and `inktrace.trace`: images to vector strokes through the Predictor.

``ExactNet`` stands in for a perfectly trained model: whatever size it is shown, it returns the
data engine's exact maps of one fixed drawing (an A with its bar, a C, a line; strokes 4 px wide at
1x) rendered at that size. The same drawing rendered at k x gives the Predictor a k x wider
stroke, which it shrinks back to the target width (5 px; the resolution test sets it to the 1x
drawing's 4 px), so the network sees nearly one size whatever k is.
"""

import json
import math
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import inktrace
import inktrace.inference.predictor
from inktrace.checkpoint import save_checkpoint
from inktrace.cli.main import main as inktrace_main
from inktrace.cli.trace import FORMATS
from inktrace.data import Strokes, render_batch
from inktrace.inference import Predictor
from inktrace.inference import scale as scale_module
from inktrace.model import InkTraceNet
from inktrace.tracing import trace_prediction
from inktrace.vectorize import Stroke, TraceOptions, trace_maps

H, W, WIDTH = 96, 128, 4.0
DRAWING = [
    [(12, 80), (40, 14), (68, 80)],  # the A's legs, one stroke through the corner
    [(24, 56), (56, 56)],  # its bar, meeting the legs in two T junctions
    [(80 + 20 * math.cos(t), 40 + 20 * math.sin(t)) for t in np.linspace(0.6, 5.6, 24)],  # a C
    [(80, 84), (120, 70)],
]
STROKES = len(DRAWING)


def rendered(f: float, height: int, width: int) -> dict:
    """The engine's image and exact maps of DRAWING scaled by ``f`` on a height x width canvas."""
    polylines = [(np.asarray(p, float) * f, WIDTH * f) for p in DRAWING]
    return render_batch(Strokes.from_polylines([polylines]), height, width)


def drawing(k: int) -> np.ndarray:
    """DRAWING at k times the resolution: (96 k, 128 k) float32, dark ink on white."""
    return rendered(k, H * k, W * k)["image"][0, 0].numpy()


class ExactNet(InkTraceNet):
    """The exact maps of DRAWING at the size of the input (see the module docstring)."""

    def __init__(self):
        super().__init__(embed_dim=1, num_layers=1)

    def forward(self, image, visible=None, generator=None):
        n, _, h, w = image.shape
        m = rendered(w / W, h, w)

        def logit(p):
            return torch.logit(p.clamp(1e-4, 1 - 1e-4))

        return {
            "skeleton_logits": logit(m["skeleton"]).expand(n, h, w),
            "keypoints_logits": logit(m["keypoints"]).expand(n, 2, h, w),
            "tangent": m["tangent"].expand(n, 2, h, w),
            "width": m["width"].expand(n, h, w),
            "offset": m["offset"].expand(n, 2, h, w),
        }


def tiny():
    torch.manual_seed(0)
    return InkTraceNet(embed_dim=4, num_layers=2).eval()


@pytest.fixture
def checkpoint(tmp_path):
    m = tiny()
    return save_checkpoint(
        {"model": m.state_dict(), "config": {"model": m.hparams}}, tmp_path / "m.ckpt"
    )


@pytest.fixture
def exact(monkeypatch):
    """The CLI loads ExactNet whatever checkpoint it is given."""

    class Loader:
        @staticmethod
        def load_from_checkpoint(path, report=True):
            return ExactNet()

    monkeypatch.setattr(inktrace.inference.predictor, "InkTraceNet", Loader)


def png(path, image: np.ndarray):
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
    return str(path)


def mean_distance(a: list[Stroke], b: list[Stroke]) -> float:
    """Mean distance from the points of ``a`` to the polylines of ``b``."""
    points = np.concatenate([s.points for s in a])
    best = np.full(len(points), np.inf)
    for s in b:
        for p, q in zip(s.points[:-1], s.points[1:]):
            t = np.clip((points - p) @ (q - p) / max((q - p) @ (q - p), 1e-12), 0.0, 1.0)
            best = np.minimum(best, np.hypot(*(points - p - t[:, None] * (q - p)).T))
    return float(best.mean())


def scaled(strokes: list[Stroke], k: float) -> list[Stroke]:
    return [Stroke(s.points / k, s.widths / k, s.closed, s.corners) for s in strokes]


# ----------------------------------------------------------------------------- command line
def test_trace_writes_svg_and_json_with_the_contract_keys(tmp_path, exact, capsys):
    image = png(tmp_path / "glyph.png", drawing(1))
    out = tmp_path / "out"
    status = inktrace_main(["trace", image, "--checkpoint", "any.ckpt", "--output", str(out)])
    stdout, stderr = capsys.readouterr()
    assert status == 0 and stderr == ""
    assert stdout == f"wrote {out}/glyph.svg, {out}/glyph.json: {STROKES} strokes\n"
    doc = json.loads((out / "glyph.json").read_text())
    assert set(doc) == {"width", "height", "strokes"} and (doc["width"], doc["height"]) == (W, H)
    assert len(doc["strokes"]) == STROKES
    for s in doc["strokes"]:
        assert set(s) == {"points", "widths"} and len(s["points"]) == len(s["widths"]) >= 2
        xy = np.asarray(s["points"])
        assert xy.shape[1] == 2 and (xy >= 0).all() and (xy[:, 0] <= W).all()
        assert (xy[:, 1] <= H).all() and np.allclose(s["widths"], WIDTH, atol=0.5)
    svg = ET.fromstring((out / "glyph.svg").read_text())
    assert (svg.get("width"), svg.get("height"), svg.get("viewBox")) == ("128", "96", "0 0 128 96")
    paths = svg.findall(".//{http://www.w3.org/2000/svg}path")
    assert len(paths) == STROKES
    assert all(abs(float(p.get("stroke-width")) - WIDTH) < 0.5 for p in paths)


def test_format_json_writes_only_json(tmp_path, checkpoint, capsys):
    image = png(tmp_path / "g.png", drawing(1))
    argv = ["trace", "--checkpoint", str(checkpoint), image, "--format", "json"]
    argv += ["--precision", "fp32"]  # as the Predictor below (the default, auto, may be bf16)
    assert inktrace_main([*argv, "--output", str(tmp_path / "a")]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["g.json"]
    stdout, _ = capsys.readouterr()
    doc = json.loads((tmp_path / "a/g.json").read_text())
    assert set(doc) == {"width", "height", "strokes"} and (doc["width"], doc["height"]) == (W, H)
    expected = trace_prediction(Predictor(tiny(), device="cpu").predict_many([drawing(1)])[0])
    assert stdout == f"wrote {tmp_path}/a/g.json: {len(expected)} strokes\n"
    assert len(doc["strokes"]) == len(expected)


def test_overlay_draws_the_strokes_over_the_input(tmp_path, exact, capsys):
    image = png(tmp_path / "g.png", drawing(1))
    argv = ["trace", "--checkpoint", "any", image, "--output", str(tmp_path / "o"), "--overlay"]
    assert inktrace_main([*argv, "--format", "json"]) == 0
    assert "g.overlay.png" in capsys.readouterr().out
    picture = np.asarray(Image.open(tmp_path / "o" / "g.overlay.png"))
    zoom = min(8, max(1, 512 // max(H, W)))
    assert picture.shape == (H * zoom, W * zoom, 3)
    coloured = (picture.max(-1).astype(int) - picture.min(-1)) > 100  # saturated stroke colours
    gray = np.asarray(Image.open(image).convert("L")).repeat(zoom, 0).repeat(zoom, 1)
    assert coloured.sum() > 0 and (gray[coloured] < 128).mean() > 0.9  # drawn over the ink


def test_the_overlay_as_a_pdf_is_the_same_picture(tmp_path, exact, capsys):
    image = png(tmp_path / "g.png", drawing(1))
    out = tmp_path / "o"
    base = ["trace", "--checkpoint", "any", image, "--output", str(out), "--format", "json"]
    assert inktrace_main([*base, "--overlay"]) == 0
    assert inktrace_main([*base, "--overlay-format", "pdf"]) == 0
    assert "g.overlay.pdf" in capsys.readouterr().out
    pdf = (out / "g.overlay.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Pages") == 1 and pdf.count(b"/Type /Page") == 2  # one page
    png_picture = Image.open(out / "g.overlay.png")
    zoom = png_picture.width / W
    # the page is the picture's pixels at 150 dpi: points = pixels * 72 / 150
    box = [float(v) for v in pdf.split(b"/MediaBox [")[1].split(b"]")[0].split()]
    assert box[2:] == pytest.approx([W * zoom * 72 / 150, H * zoom * 72 / 150], abs=0.01)
    assert inktrace_main([*base, "--overlay-format", "svg"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_trace_flags_reach_the_tracer(tmp_path, exact, capsys):
    image = png(tmp_path / "g.png", drawing(1))
    argv = ["trace", "--checkpoint", "any", image, "--output", str(tmp_path), "--format=svg"]
    assert inktrace_main([*argv, "--max-turn", "0", "--tolerance=1.5"]) == 0
    stdout, _ = capsys.readouterr()
    assert stdout.startswith(f"wrote {tmp_path}/g.svg: ")
    strict = inktrace.trace(drawing(1), model=ExactNet(), max_turn=0, tolerance=1.5)
    assert stdout.endswith(f": {len(strict)} strokes\n") and len(strict) > STROKES


def test_bad_images_are_one_line_each_and_the_good_one_is_still_written(
    tmp_path, checkpoint, capsys
):
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    bad = {
        str(tmp_path / "missing.png"): "no such file",
        str(tmp_path / "text.png"): "not an image",
        str(tmp_path / "empty.png"): "empty file",
    }
    good = png(tmp_path / "good.png", drawing(1))
    out = tmp_path / "out"
    argv = ["trace", "--checkpoint", str(checkpoint), "--output", str(out), *bad, good]
    status = inktrace_main(argv)
    stdout, stderr = capsys.readouterr()
    heads = [f"inktrace trace: error: {path}: " for path in bad]  # in the order given
    got = stderr.splitlines()
    assert status == 2 and len(got) == len(heads)
    assert [g[: len(h)] for g, h in zip(got, heads)] == heads
    assert all(words in g for g, words in zip(got, bad.values()))
    assert (out / "good.svg").exists() and (out / "good.json").exists()
    assert stdout.startswith(f"wrote {out}/good.svg, {out}/good.json: ")


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--checkpoint", "nowhere.ckpt"], "nowhere.ckpt: no such checkpoint file"),
        (["--checkpoint", "CKPT", "--format", "pdf"], "argument --format: invalid choice"),
        (["--checkpoint", "CKPT", "--max-turn", "100"], "--max-turn 100: must be in [0, 90)"),
        (["--checkpoint", "CKPT", "--tolerance", "x"], "--tolerance: invalid float value"),
        (["--checkpoint", "CKPT", "--max-trun", "3"], "unknown option '--max-trun' (did you mean"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(tmp_path, checkpoint, capsys, extra, words):
    image = png(tmp_path / "x.png", np.ones((20, 20)))
    extra = [str(checkpoint) if a == "CKPT" else a for a in extra]
    status = inktrace_main(["trace", image, "--output", str(tmp_path / "o"), *extra])
    _, stderr = capsys.readouterr()
    assert status == 2 and stderr.count("\n") == 1 and words in stderr
    assert stderr.startswith("inktrace trace: error: ")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("fmt, first", [("both", "svg"), ("json", "json")])
def test_same_stem_twice_is_refused_for_the_second(tmp_path, checkpoint, capsys, fmt, first):
    images = [png(tmp_path / f"{sub}.x.png", np.ones((20, 20))) for sub in ("p", "q")]
    (tmp_path / "q").mkdir()
    images[1] = png(tmp_path / "q" / "p.x.png", np.ones((20, 20)))  # the same stem "p.x"
    out = tmp_path / "o"
    argv = ["trace", "--checkpoint", str(checkpoint), "--output", str(out), "--format", fmt]
    assert inktrace_main([*argv, *images]) == 2
    _, stderr = capsys.readouterr()
    assert f"q/p.x.png: same output {out}/p.x.{first} as {images[0]}" in stderr
    assert (out / f"p.x.{first}").exists() and len(list(out.iterdir())) == len(FORMATS[fmt])


# ----------------------------------------------------------------------------- Python API
def test_trace_takes_an_array_with_a_checkpoint_path_or_a_model(checkpoint):
    image = drawing(1)
    from_path = inktrace.trace(image, model=checkpoint, device="cpu")
    from_model = inktrace.trace(image, model=tiny(), device="cpu")
    assert all(isinstance(s, Stroke) for s in from_path)
    assert [s.points.tolist() for s in from_path] == [s.points.tolist() for s in from_model]
    strokes = inktrace.trace((image * 255).astype(np.uint8), model=ExactNet(), device="cpu")
    assert len(strokes) == STROKES and all(np.allclose(s.widths, WIDTH, atol=0.5) for s in strokes)
    predictor = Predictor(ExactNet(), device="cpu")
    assert len(inktrace.trace(image, model=predictor)) == STROKES


def test_without_the_shipped_model_file_every_way_in_says_so_in_one_line(
    tmp_path, monkeypatch, capsys
):
    import inktrace.pretrained.files as pretrained
    from inktrace.checkpoint import CheckpointError

    monkeypatch.setattr(pretrained, "_FILE", tmp_path / "gone.ckpt")
    monkeypatch.setattr(inktrace.tracing, "_SHIPPED", {})
    with pytest.raises(CheckpointError, match="gone.ckpt: the shipped model is missing") as info:
        inktrace.trace(drawing(1))
    assert "\n" not in str(info.value)
    image = png(tmp_path / "x.png", np.ones((20, 20)))
    for command in ("trace", "predict"):
        assert inktrace_main([command, image, "--output", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "the shipped model is missing" in err
    assert not (tmp_path / "o").exists()


def test_trace_with_bad_arguments_says_so_in_one_line():
    with pytest.raises(TypeError, match="unknown tracing option.*max_trun"):
        inktrace.trace(drawing(1), model=tiny(), max_trun=3)
    with pytest.raises(ValueError, match="max_turn must be in"):
        inktrace.trace(drawing(1), model=tiny(), max_turn=100)
    with pytest.raises(ValueError, match="scale: set on the Predictor itself"):
        inktrace.trace(drawing(1), model=Predictor(tiny(), device="cpu"), scale=0.5)
    with pytest.raises(TypeError, match="not dict"):
        inktrace.trace(drawing(1), model={})


# ----------------------------------------------------------------------------- resolution
def test_the_same_drawing_at_1x_2x_3x_gives_the_same_strokes_up_to_scale(monkeypatch):
    """Traced at the model's resolution where the Predictor shrank the image: the same 4 strokes
    at every k, points within 0.08 px of the 1x strokes on average once divided by k (measured
    0.035-0.040 px both ways; traced at the input's resolution 3x gave 5 strokes) and widths k
    times the 1x ones. The rule's target is set to the 1x drawing's width (4 px), so that the
    network sees the same image at every k. The polyline's tolerance is in input pixels, so it is
    k times the 1x one here (the default, 0.3 input px, keeps more points at 3x: checked last)."""
    monkeypatch.setattr(scale_module, "TARGET_WIDTH", WIDTH)
    predictor = Predictor(ExactNet(), device="cpu", glyph_size=None)  # the width rule alone
    results = {k: predictor.predict_many([drawing(k)])[0] for k in (1, 2, 3)}
    assert results[1].scale == 1.0 and results[3].scale == pytest.approx(1 / 3, rel=0.1)
    tolerance = TraceOptions().tolerance
    strokes = {k: trace_prediction(r, tolerance=tolerance * k) for k, r in results.items()}
    assert [len(strokes[k]) for k in (1, 2, 3)] == [STROKES] * 3
    for k in (2, 3):
        back = scaled(strokes[k], k)
        assert mean_distance(back, strokes[1]) < 0.08 and mean_distance(strokes[1], back) < 0.08
        width = np.mean(np.concatenate([s.widths for s in back]))
        assert width == pytest.approx(WIDTH, rel=0.05)
        assert sum(map(len, strokes[k])) == pytest.approx(sum(map(len, strokes[1])), rel=0.15)
    # at the default tolerance the 3x drawing keeps more of its points: 0.3 px of 3x, not of 1x
    finer = trace_prediction(results[3])
    assert all(len(a.points) >= len(b.points) for a, b in zip(finer, strokes[3]))
    assert sum(len(s.points) for s in finer) > sum(len(s.points) for s in strokes[3])


def test_an_unshrunk_image_is_traced_at_its_own_resolution():
    predictor = Predictor(ExactNet(), device="cpu", scale=2.0)  # enlarged: input is the coarser
    result = predictor.predict_many([drawing(1)])[0]
    start = time.perf_counter()
    strokes = trace_prediction(result)
    assert time.perf_counter() - start < 1.0
    direct = trace_maps(result.maps)
    assert [s.points.tolist() for s in strokes] == [s.points.tolist() for s in direct]
    assert len(strokes) == STROKES


def test_a_batch_refused_from_its_headers_never_loads_the_model(tmp_path, capsys):
    """Refusals come from the image headers before the model is read: with only a too-large
    image the (missing) checkpoint is never opened, and the refusal is the one line."""
    big = tmp_path / "big.png"
    Image.new("L", (3000, 2000), 255).save(big)
    code = inktrace_main(
        [
            "trace",
            str(big),
            "--checkpoint",
            str(tmp_path / "absent.ckpt"),
            "--max-pixels",
            "1000000",
            "--output",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "3000x2000 pixels is more than --max-pixels 1000000" in err and "absent" not in err
    small = png(tmp_path / "small.png", drawing(1))
    code = inktrace_main(
        [
            "trace",
            str(big),
            small,
            "--checkpoint",
            str(tmp_path / "absent.ckpt"),
            "--max-pixels",
            "1000000",
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2 and "absent.ckpt" in capsys.readouterr().err  # now the model is needed


@pytest.mark.parametrize("workers", [1, 2])
def test_a_page_traced_in_process_uses_every_core(workers, tmp_path, checkpoint, monkeypatch):
    """One process at work (one worker, or a single image whatever --workers says: it runs
    in-process) traces a page's regions on every core the process may use."""
    import inktrace.cli.batch as batch
    import inktrace.cli.trace as cli_trace

    seen = []

    def record(result, options=None, *, processes=1, **settings):
        seen.append(processes)
        return []

    monkeypatch.setattr(batch, "usable_cores", lambda: 3)
    monkeypatch.setattr(cli_trace, "trace_prediction", record)
    argv = ["trace", png(tmp_path / "p.png", drawing(1)), "--checkpoint", str(checkpoint)]
    assert inktrace_main([*argv, "--output", str(tmp_path / "o"), "--workers", str(workers)]) == 0
    assert seen == [3]


def test_pages_are_framed_unless_tile_pages_is_given():
    from inktrace.cli import evaluate, predict, trace
    from inktrace.cli.image_commands import make_predictor

    for module in (trace, predict):
        args = module.build_parser("x").parse_args(["a.png", "--output", "o", "--tile-pages"])
        assert not make_predictor(args).frame_pages
        args = module.build_parser("x").parse_args(["a.png", "--output", "o"])
        assert make_predictor(args).frame_pages and make_predictor(args).frame is not None
        args = module.build_parser("x").parse_args(["a.png", "--output", "o", "--no-frame"])
        assert make_predictor(args).frame is None
    assert evaluate.build_parser("x").parse_args(["--pages", "1", "--tile-pages"]).tile_pages


def test_predict_says_whether_an_image_ran_framed_and_no_frame_runs_it_whole(tmp_path, capsys):
    # a small glyph in wide margins runs on a frame around its ink; --no-frame runs it whole
    im = Image.new("L", (256, 256), 255)
    ImageDraw.Draw(im).line([(110, 100), (146, 156)], fill=0, width=3)
    im.save(tmp_path / "g.png")
    argv = ["predict", str(tmp_path / "g.png"), "--output", str(tmp_path / "o"), "--scale", "1"]
    assert inktrace_main(argv) == 0
    assert "framed)" in capsys.readouterr().out
    framed = np.load(tmp_path / "o" / "g.npz")["skeleton"]
    assert inktrace_main([*argv, "--no-frame"]) == 0
    assert "framed" not in capsys.readouterr().out
    whole = np.load(tmp_path / "o" / "g.npz")["skeleton"]
    assert framed.shape == whole.shape == (256, 256)
    assert np.abs(framed - whole).max() > 0.01  # the network saw another image


def test_a_setting_the_predictor_refuses_is_named_as_its_flag(tmp_path, capsys):
    """The pipeline says 'overlap must be ...'; the command line's user typed --overlap."""
    image = png(tmp_path / "a.png", drawing(1))
    argv = ["trace", image, "--output", str(tmp_path / "out"), "--overlap", "999"]
    assert inktrace_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "inktrace trace: error: --overlap must be 0 to half the tile (256 px), got 999"
