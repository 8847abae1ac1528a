"""Folders, globs, --workers, --skip-existing and --report of ``inktrace trace`` / ``predict``
(inktrace/cli/batch.py, inputs.py): real processes on real files with the shipped model."""

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inktrace.cli.batch import measure_chunk, plan_chunks
from inktrace.cli.inputs import expand_inputs


def _glyph(path, k: int, size: int = 48) -> Path:
    """Dark strokes on white: a bar and a slanted bar, placed by ``k``."""
    a = np.full((size, size), 255, np.uint8)
    a[8 : size - 8, 10 + 2 * k : 14 + 2 * k] = 0
    for i in range(8, size - 8):
        j = 6 + i // 2 + k
        a[i, j : j + 3] = 0
    Image.fromarray(a).save(path)
    return Path(path)


def _run(*args, cwd, **env):
    return subprocess.run(
        [sys.executable, "-m", "inktrace", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **env},
    )


def _report(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "scans"
    d.mkdir()
    for k, name in enumerate(["b.png", "a.png", "c.jpg"]):
        _glyph(d / name, k)
    (d / "bad.png").write_bytes(b"not an image at all")
    (d / "notes.txt").write_text("not an image: not listed")
    (d / "a.overlay.png").write_bytes((d / "a.png").read_bytes())  # our own output: not listed
    (d / ".hidden.png").write_bytes((d / "a.png").read_bytes())
    (d / "sub").mkdir()
    _glyph(d / "sub" / "deep.png", 3)
    return d


def test_a_folder_is_its_images_sorted_and_a_bad_one_does_not_stop_the_rest(tmp_path, folder):
    out, report = tmp_path / "out", tmp_path / "run.jsonl"
    run = _run("trace", folder, "--output", out, "--report", report, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "bad.png: not an image" in run.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "a.json", "a.svg", "b.json", "b.svg", "c.json", "c.svg",
    ]  # fmt: skip
    rows = _report(report)
    assert [Path(r["image"]).name for r in rows] == ["a.png", "b.png", "bad.png", "c.jpg"]
    assert [r["status"] for r in rows] == ["ok", "ok", "error", "ok"]
    for r in rows:
        if r["status"] == "ok":
            strokes = json.loads((out / (Path(r["image"]).stem + ".json")).read_text())["strokes"]
            assert r["strokes"] == len(strokes) >= 1 and r["seconds"] > 0 and r["error"] is None
    assert rows[2]["strokes"] is None and "bad.png: not an image" in rows[2]["error"]
    assert [line.split()[1] for line in run.stdout.splitlines()] == [
        str(out / f"{s}.svg,") for s in "abc"
    ]


def test_a_rerun_with_skip_existing_traces_nothing_then_only_what_is_missing(tmp_path, folder):
    out = tmp_path / "out"
    first = _run("trace", folder, "--output", out, cwd=tmp_path)
    assert first.returncode == 2
    stamps = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    again = _run(
        "trace", folder, "--output", out, "--skip-existing", "--report", "r.jsonl", cwd=tmp_path
    )
    assert again.returncode == 2  # bad.png is still bad
    assert [r["status"] for r in _report(tmp_path / "r.jsonl")] == [
        "skipped", "skipped", "error", "skipped",
    ]  # fmt: skip
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == stamps
    assert "wrote" not in again.stdout and again.stdout.count("skipped") == 3
    # a run killed between its two files: b.json missing, only b is traced again; a leftover
    # temporary file of an atomic write is not an output
    (out / "b.json").unlink()
    (out / ".b.json.999.abcdefgh.tmp").write_text('{"half": ')
    third = _run(
        "trace", folder, "--output", out, "--skip-existing", "--report", "r.jsonl", cwd=tmp_path
    )
    assert third.returncode == 2
    assert [r["status"] for r in _report(tmp_path / "r.jsonl")] == [
        "skipped", "ok", "error", "skipped",
    ]  # fmt: skip
    assert json.loads((out / "b.json").read_text())["strokes"]
    assert (out / "b.svg").read_bytes() == stamps["b.svg"][1]  # the same strokes again


def test_two_workers_write_the_same_files_in_the_same_order_as_one(tmp_path):
    d = tmp_path / "pages"
    d.mkdir()
    for k in range(5):
        _glyph(d / f"g{k}.png", k, 48 + 8 * k)
    big = np.full((300, 700), 255, np.uint8)  # wider than --tile 256: a chunk of its own
    big[100:200, 100:104] = 0
    big[150:154, 50:650] = 0
    Image.fromarray(big).save(d / "page.png")
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        args = ["trace", d, "--output", out, "--workers", workers, "--batch-size", "2"]
        # one thread per process in both runs: the convolutions' float rounding depends on the
        # thread count; the chunks (batch.py) must not depend on the workers
        run = _run(
            *args, "--tile", "256", "--report", f"w{workers}.jsonl", cwd=tmp_path,
            OMP_NUM_THREADS="1",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        runs[workers] = run
    files = sorted(p.name for p in (tmp_path / "w1").iterdir())
    assert len(files) == 12 and files == sorted(p.name for p in (tmp_path / "w2").iterdir())
    for name in files:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
    assert runs[1].stdout.replace("w1", "w2") == runs[2].stdout
    one, two = _report(tmp_path / "w1.jsonl"), _report(tmp_path / "w2.jsonl")
    assert [(r["image"], r["strokes"]) for r in one] == [(r["image"], r["strokes"]) for r in two]


def test_glob_patterns_are_expanded_by_us_and_no_match_is_one_line(tmp_path, folder):
    literal = tmp_path / "odd[1].png"  # a file whose name looks like a pattern is that file
    _glyph(literal, 2)
    run = _run(
        "predict", f"{folder}/*.png", f"{folder}/**/d*.png", "nothing/*.png", literal,
        "--output", "out", "--report", "r.jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 2
    errors = run.stderr.splitlines()
    assert len(errors) == 2 and "bad.png: not an image" in errors[0]
    assert "nothing/*.png: no file matches this pattern" in errors[1]
    rows = _report(tmp_path / "r.jsonl")
    # a pattern is taken as written: a.overlay.png too; dotfiles are not matched

    def shown(r):
        return os.path.relpath(r["image"], tmp_path) if "/scans/" in r["image"] else r["image"]

    assert [shown(r) for r in rows] == [
        "scans/a.overlay.png", "scans/a.png", "scans/b.png", "scans/bad.png",
        "scans/sub/deep.png", "nothing/*.png", str(literal),
    ]  # fmt: skip
    assert rows[5] == {
        "image": "nothing/*.png",
        "status": "error",
        "strokes": None,
        "seconds": 0.0,
        "error": "nothing/*.png: no file matches this pattern",
    }
    assert (tmp_path / "out" / "deep.npz").is_file() and (tmp_path / "out" / "odd[1].npz").is_file()


def test_expand_inputs_orders_folders_and_patterns(tmp_path, folder):
    found = expand_inputs([str(folder), str(tmp_path / "none" / "*.png"), "x.png"])
    names = [Path(n).name for n, e in found if e is None]
    assert names == ["a.png", "b.png", "bad.png", "c.jpg", "x.png"]
    assert [e for _, e in found if e] == [f"{tmp_path}/none/*.png: no file matches this pattern"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert expand_inputs([str(empty)])[0][1].startswith(f"{empty}: a folder without images")


def test_chunks_depend_on_the_images_alone(tmp_path):
    small = [(_glyph(tmp_path / f"s{k}.png", k), Path(f"s{k}")) for k in range(5)]
    Image.fromarray(np.full((40, 600), 255, np.uint8)).save(tmp_path / "wide.png")
    wide = (tmp_path / "wide.png", Path("wide"))
    jobs = [(str(a), b) for a, b in small[:3] + [wide] + small[3:]]
    jobs.append((str(tmp_path / "missing.png"), Path("missing")))
    chunks = plan_chunks(jobs, batch_size=2, tile=128)
    sizes = [[Path(n).stem for n, _ in c] for c in chunks]
    assert sizes == [["s0", "s1"], ["s2"], ["wide"], ["s3", "s4"], ["missing"]]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--workers", "0"], "--workers 0: must be at least 1"),
        (["--report", "."], "--report .: is a folder"),
        (["--report", "no/such/dir/r.jsonl"], "--report no/such/dir/r.jsonl: cannot write"),
    ],
)
def test_bad_batch_flags_are_one_line(tmp_path, extra, words):
    _glyph(tmp_path / "a.png", 0)
    run = _run("trace", "a.png", "--output", "out", *extra, cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and words in run.stderr
    assert not (tmp_path / "out" / "a.svg").exists()


def test_the_progress_bar_stays_off_when_stderr_is_not_a_terminal(tmp_path):
    _glyph(tmp_path / "a.png", 0)
    run = _run("trace", "a.png", "--output", "out", cwd=tmp_path)
    assert run.returncode == 0 and run.stderr == "" and "it/s" not in run.stdout
    assert "image/s" not in run.stderr and os.path.isfile(tmp_path / "out" / "a.svg")


def test_the_progress_bar_shows_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    for k in range(2):
        _glyph(tmp_path / f"g{k}.png", k)
    master, slave = pty.openpty()
    termios = pytest.importorskip("termios")
    fcntl = pytest.importorskip("fcntl")
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    try:
        run = subprocess.run(
            [sys.executable, "-m", "inktrace", "trace", ".", "--output", "out"],
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=300,
            cwd=tmp_path,
        )
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed, all was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert run.returncode == 0
    assert b"2/2" in shown and b"image" in shown  # tqdm's "2/2 [..., image/s]"
    assert run.stdout.decode().count("wrote") == 2  # the lines on stdout, apart from the bar


def test_the_scale_measured_ahead_is_the_one_the_pipeline_chooses(tmp_path, folder):
    # measure_chunk runs in another process while the model loads: what it gives must be what
    # the pipeline would have measured itself, for plain and inverted images, and None for an
    # image that cannot be read (the chunk then reports it)
    from inktrace.inference import load_image
    from inktrace.tracing import as_predictor

    names = [folder / "a.png", folder / "bad.png", folder / "sub" / "deep.png"]
    chunk = [(str(n), tmp_path / n.stem) for n in names]
    predictor = as_predictor(None)
    for invert in (False, True):
        got = measure_chunk(chunk, None, invert)
        assert got[1] is None
        for k in (0, 2):
            image = load_image(names[k])
            found = predictor.predict_many([1.0 - image if invert else image])[0]
            assert got[k] == (found.scale, found.stroke_width)
    assert measure_chunk(chunk, None, False) != measure_chunk(chunk, None, True)


def _die(*args):  # (module level: the measuring process receives it by name)
    os._exit(3)


def _no_fork():
    raise BlockingIOError(11, "Resource temporarily unavailable")


def _half(chunk, *args):
    return [(0.5, None)] * len(chunk)


def test_traced_files_do_not_depend_on_the_measuring_process(tmp_path, folder, monkeypatch):
    # measured ahead in a forked process, measured here after that process died, or measured
    # here from the start (where processes are not forked): the same files; and the scales it
    # gives are the ones used
    from inktrace.cli import batch
    from inktrace.cli.main import main

    def trace(out: str, *extra: str) -> dict[str, str]:
        assert main(["trace", str(folder), "--output", str(tmp_path / out), *extra]) == 2
        return {p.name: p.read_text() for p in sorted((tmp_path / out).iterdir())}

    ahead = trace("ahead")
    assert len(ahead) == 6  # a, b, c and sub/deep's JSON and SVG; bad.png is reported
    monkeypatch.setattr(batch, "measure_chunk", _die)
    assert trace("died") == ahead
    monkeypatch.setattr(sys, "platform", "darwin")  # no fork: measured here from the start
    assert trace("here", "--scale", "auto") == ahead
    monkeypatch.undo()
    monkeypatch.setattr(os, "fork", _no_fork)  # no process left to the user: the same
    assert trace("no-fork") == ahead
    monkeypatch.undo()
    monkeypatch.setattr(batch, "measure_chunk", _half)
    assert trace("half") != ahead
    assert trace("half-given", "--scale", "0.5") == trace("half")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the forked measurer is Linux's")
def test_a_killed_run_leaves_no_measuring_process_holding_the_callers_pipes(tmp_path):
    # the measuring process is forked before the model loads; killing the run (SIGKILL, the
    # out-of-memory killer) must take it along, or a caller reading the run's output waits forever
    image = _glyph(tmp_path / "a.png", 0)
    run = subprocess.Popen(
        [sys.executable, "-m", "inktrace", "trace", str(image), "--output", str(tmp_path / "o")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not _children(run.pid) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    children = _children(run.pid)
    if not children:
        pytest.skip("the run ended before its measuring process was seen")
    run.kill()
    run.communicate(timeout=30)  # the pipes close: no process is left holding them
    deadline = time.monotonic() + 10
    while any(map(_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, children))


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _busy_folder(tmp_path, count: int = 16) -> Path:
    d = tmp_path / "pages"
    d.mkdir()
    for k in range(count):
        a = np.full((320, 320), 255, np.uint8)
        for r in range(6):
            for c in range(6):
                _glyph_at(a, 8 + r * 52, 8 + c * 52, k + r + c)
        Image.fromarray(a).save(d / f"p{k:02d}.png")
    return d


def _glyph_at(a, top: int, left: int, k: int) -> None:
    a[top : top + 40, left + 4 + k % 5 : left + 7 + k % 5] = 0
    for i in range(40):
        j = left + 2 + i // 2 + k % 3
        a[top + i, j : j + 3] = 0


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_stopped_run_with_workers_stops_its_workers_and_reports_what_it_wrote(tmp_path, sig):
    """Ctrl-C: the workers are stopped at once (the chunks queued for them were traced on,
    unreported); SIGTERM, which runs no cleanup: they end with the run (they lived on, holding
    their memory). What is on disk is what the report lists."""
    import signal

    d = _busy_folder(tmp_path)
    report = tmp_path / "r.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "inktrace", "trace", str(d), "--output", str(tmp_path / "o"),
         "--workers", "2", "--batch-size", "1", "--report", str(report)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (report.is_file() and report.read_text().count("\n") >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        children = _children(proc.pid)
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=30)
    finally:
        proc.kill()
    time.sleep(2)  # anything a worker still wrote would be there now
    assert children and not any(_alive(c) for c in children)
    traced = sorted(p.stem for p in (tmp_path / "o").glob("*.svg"))
    if sig == "SIGINT":
        assert proc.returncode == 1
        listed = [Path(r["image"]).stem for r in _report(report) if r["status"] == "ok"]
        assert traced == listed and len(traced) < 16
    else:
        assert len(traced) < 16


def test_a_write_that_fails_names_the_file_that_failed(tmp_path):
    """The JSON's place is taken by a folder: the error names a.json (it named a.svg, which
    was written)."""
    _glyph(tmp_path / "a.png", 0)
    (tmp_path / "o" / "a.json").mkdir(parents=True)
    run = _run("trace", "a.png", "--output", "o", cwd=tmp_path)
    assert run.returncode == 1
    line = run.stderr.strip()
    assert "\n" not in line and "a.json: cannot write" in line and "a.svg" not in line, line


def test_an_image_given_twice_is_said_so(tmp_path):
    _glyph(tmp_path / "a.png", 0)
    run = _run("trace", "a.png", "./a.png", "--output", "o", cwd=tmp_path)
    assert run.returncode == 2 and (tmp_path / "o" / "a.svg").is_file()
    assert (
        run.stderr.strip()
        == "inktrace trace: error: ./a.png: given twice (its outputs are written once)"
    )
