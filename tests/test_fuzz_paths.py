"""Generated paths for every path argument of every command line (issue 22, docs/reliability.md).

Each path argument of ``inktrace predict``, ``trace``, ``evaluate``, ``runs``, ``plot``,
``preview-data``, ``export``, ``migrate``, ``compare``, ``config`` and ``train.py`` (``--config``,
``--resume``, ``--save_dir``, ``--init_from``) gets the same catalogue of real files made here:
missing files and parents, a folder where a file is expected and a file where a folder is, empty
files, random bytes, truncated PNG/JPEG/NPZ/YAML/ckpt files, a FIFO nobody writes to, a symlink
loop, a dangling symlink, an unreadable file and a read-only folder (not as root: root reads and
writes them anyway), names that are not UTF-8 or hold a newline and escape codes, devices, and an
output that is one of the command's inputs. Every call must exit 0 where the path is usable, else
2 with one line on stderr and no traceback, within a bound (a hang guard, SIGALRM), print no raw
escape code, and leave every file that existed before byte for byte as it was (the named output
of a call that succeeded aside). The commands run in process through their ``main(argv)``; a few
run as real processes. The last tests put generated garbage into every field of a real
checkpoint's payload and hand it to ``train.py --resume``, ``export``, ``trace --checkpoint`` and
``compare``."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from inktrace.cli.main import main as inktrace_main

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOUND = 120  # seconds before a call counts as hung: a hang guard, never a speed check
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOT_AS_ROOT = "root reads a chmod 000 file and writes into a read-only folder"


class Hung(BaseException):
    """Raised by SIGALRM in a call that passed its bound (BaseException: no handler eats it)."""


@contextmanager
def bounded(seconds: float = BOUND) -> Iterator[None]:
    def expire(signum, frame):
        raise Hung(f"no answer in {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def ink(path) -> Path:
    a = np.full((48, 48), 255, np.uint8)
    a[10:38, 22:26] = 0
    Image.fromarray(a).save(path)
    return Path(path)


# ------------------------------------------------------------------ the good inputs, once
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished tiny training run (config, checkpoint, run folder), an image, an SVG folder."""
    base = tmp_path_factory.mktemp("world")
    settings_ = {
        "experiment": {"name": "paths"},
        "model": {"embed_dim": 4, "num_layers": 2},
        "training": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0, "precision": "fp32"},
        "data": {"img_size": 32, "train_size": 4, "val_size": 2},
        "checkpoint": {"save_dir": str(base / "ck")},
        "logging": {"log_dir": str(base / "runs"), "progress_bar": False},
        "visualization": {"enabled": False},
        "system": {"num_threads": 1},
        "stages": {"dense": {"init_from": "none"}},
    }
    (base / "good.yaml").write_text(yaml.safe_dump(settings_))
    assert inktrace_main(["train", "--config", str(base / "good.yaml"), "--stage", "dense"]) == 0
    ink(base / "good.png")
    Image.open(base / "good.png").save(base / "good.jpg")
    (base / "svgs").mkdir()
    (base / "svgs" / "a.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 109 109">'
        '<path d="M20,20 C40,30 60,60 90,90"/></svg>'
    )
    np.savez(base / "good.npz", skeleton=np.zeros((8, 8), np.float32))
    return {
        "base": base,
        "yaml": base / "good.yaml",
        "ckpt": base / "ck" / "dense" / "last.ckpt",
        "run": base / "runs" / "dense",
        "png": base / "good.png",
        "svgs": base / "svgs",
    }


# ------------------------------------------------------------------ the path arguments
@dataclass(frozen=True)
class Slot:
    """One path argument of one command: ``argv(P, world, tmp)``; ``role``: "in" (read), "out"
    (a file written) or "outdir" (a folder written into); ``valid``: the world's key of a usable
    input (copied under odd names); ``clobber``: an existing output file is replaced (True),
    refused (False) or replaced only when it is an earlier report ("report"); ``same``: the
    world's key of one of the command's inputs, given as this output."""

    cli: str
    name: str
    argv: Callable[[str, dict, Path], list[str]]
    role: str
    suffix: str = ""
    valid: str | None = None
    clobber: bool | str = False
    same: str | None = None


EVAL = ["--size", "32", "--count", "1", "--no-baseline", "--no-ceiling", "--conditions", "clean"]
SLOTS = [
    Slot("predict", "IMAGE", lambda p, w, t: ["predict", p, "--output", str(t / "o")], "in",
         ".png", "png"),
    Slot("predict", "--checkpoint", lambda p, w, t: ["predict", str(w["png"]), "--checkpoint", p,
         "--output", str(t / "o")], "in", ".ckpt", "ckpt"),
    Slot("predict", "--output", lambda p, w, t: ["predict", str(w["png"]), "--output", p],
         "outdir", "", same="png"),
    Slot("predict", "--report", lambda p, w, t: ["predict", str(w["png"]), "--output",
         str(t / "o"), "--report", p], "out", ".jsonl", clobber="report", same="png"),
    Slot("trace", "IMAGE", lambda p, w, t: ["trace", p, "--output", str(t / "o")], "in", ".png",
         "png"),
    Slot("trace", "--checkpoint", lambda p, w, t: ["trace", str(w["png"]), "--checkpoint", p,
         "--output", str(t / "o")], "in", ".ckpt", "ckpt"),
    Slot("trace", "--output", lambda p, w, t: ["trace", str(w["png"]), "--output", p], "outdir",
         "", same="png"),
    Slot("trace", "--report", lambda p, w, t: ["trace", str(w["png"]), "--output", str(t / "o"),
         "--report", p], "out", ".jsonl", clobber="report", same="png"),
    Slot("evaluate", "--checkpoint", lambda p, w, t: ["evaluate", "--checkpoint", p, "--dataset",
         str(w["svgs"]), *EVAL], "in", ".ckpt", "ckpt"),
    Slot("evaluate", "--dataset", lambda p, w, t: ["evaluate", "--dataset", p, *EVAL], "in",
         ".svg", "svgs"),
    Slot("runs", "DIR", lambda p, w, t: ["runs", p], "in", "", "run"),
    Slot("plot", "RUN_DIR", lambda p, w, t: ["plot", p, "-o", str(t / "c.png")], "in", "", "run"),
    Slot("plot", "-o", lambda p, w, t: ["plot", str(w["run"]), "-o", p], "out", ".png",
         clobber=True, same="run"),
    Slot("preview-data", "--svg", lambda p, w, t: ["preview-data", "--svg", p, "--output",
         str(t / "g.png"), "--samples", "1", "--img-size", "32"], "in", ".svg", "svgs"),
    Slot("preview-data", "--output", lambda p, w, t: ["preview-data", "--stage", "0", "--output",
         p, "--samples", "1", "--img-size", "32"], "out", ".png", clobber=True),
    Slot("export", "CKPT", lambda p, w, t: ["export", p, str(t / "e.ckpt")], "in", ".ckpt",
         "ckpt"),
    Slot("export", "OUT", lambda p, w, t: ["export", str(w["ckpt"]), p], "out", ".ckpt",
         same="ckpt"),
    Slot("migrate", "OLD", lambda p, w, t: ["migrate", p, str(t / "m.ckpt")], "in", ".ckpt",
         "ckpt"),
    Slot("migrate", "NEW", lambda p, w, t: ["migrate", str(w["ckpt"]), p], "out", ".ckpt",
         same="ckpt"),
    Slot("compare", "CKPT", lambda p, w, t: ["compare", p, str(w["ckpt"])], "in", ".ckpt",
         "ckpt"),
    Slot("config", "CONFIG", lambda p, w, t: ["config", p, "--stage", "dense"], "in", ".yaml",
         "yaml"),
    Slot("config", "--save", lambda p, w, t: ["config", str(w["yaml"]), "--save", p], "out",
         ".yaml", same="yaml"),
    Slot("train.py", "--config", lambda p, w, t: ["train", "--config", p, "--stage", "dense",
         "--print-config"], "in", ".yaml", "yaml"),
    Slot("train.py", "--resume", lambda p, w, t: ["train", "--resume", p], "in", ".ckpt",
         "ckpt"),
    Slot("train.py", "--init_from", lambda p, w, t: ["train", "--config", str(w["yaml"]),
         "--stage", "dense", "--init_from", p, "--save_dir", str(t / "ck")], "in", ".ckpt",
         "ckpt"),
    Slot("train.py", "--save_dir", lambda p, w, t: ["train", "--config", str(w["yaml"]),
         "--stage", "dense", "--save_dir", p], "outdir", "", same="yaml"),
]  # fmt: skip
CLIS = sorted({s.cli for s in SLOTS})


def truncated(data: bytes) -> bytes:
    return data[: max(len(data) // 2, 1)]


def cases(slot: Slot, w: dict, folder: Path) -> list[tuple[str, str, set[int]]]:
    """(kind, path, allowed exit statuses) of the catalogue for ``slot``, made under
    ``folder``."""
    folder.mkdir(parents=True)
    s = slot.suffix
    rng = np.random.default_rng(22)
    made: list[tuple[str, str, set[int]]] = []
    inp, out, report = slot.role == "in", slot.role == "out", slot.clobber == "report"

    def add(kind, path, ok):
        made.append((kind, os.fsdecode(path), ok))

    add("missing", folder / f"missing{s}", {2} if inp else {0})
    # a report's folder must exist (tests/test_batch_folders.py); other outputs make theirs
    add("missing parent", folder / "no" / "such" / f"x{s}", {2} if inp or report else {0})
    (folder / f"folder{s}").mkdir()
    add("a folder", folder / f"folder{s}", {0} if slot.role == "outdir" else {2})
    add("a file as folder", w["png"] / f"x{s}", {2})
    existing_ok = {0} if out and slot.clobber is True else {2}
    (folder / f"empty{s}").write_bytes(b"")
    add("empty file", folder / f"empty{s}", {0} if out and slot.clobber else existing_ok)
    (folder / f"random{s}").write_bytes(rng.bytes(4096))
    add("random bytes", folder / f"random{s}", existing_ok)
    if inp:
        sources = {
            "png": w["png"].read_bytes(),
            "jpeg": (w["base"] / "good.jpg").read_bytes(),
            "npz": (w["base"] / "good.npz").read_bytes(),
            "yaml": w["yaml"].read_bytes(),
            "ckpt": w["ckpt"].read_bytes(),
        }
        for fmt, data in sources.items():
            (folder / f"cut_{fmt}{s}").write_bytes(truncated(data))
            add(f"truncated {fmt}", folder / f"cut_{fmt}{s}", {2})
        add("/dev/zero", "/dev/zero", {2})
        add("/dev/null", "/dev/null", {2})
    elif report:
        add("/dev/null", "/dev/null", {0})  # a report thrown away: a device is written to
    os.mkfifo(folder / f"fifo{s}")
    add("a FIFO", folder / f"fifo{s}", {2})
    os.symlink(folder / f"loop_b{s}", folder / f"loop_a{s}")
    os.symlink(folder / f"loop_a{s}", folder / f"loop_b{s}")
    add("a symlink loop", folder / f"loop_a{s}", {2})
    os.symlink(folder / f"nowhere{s}", folder / f"dangling{s}")
    add("a dangling symlink", folder / f"dangling{s}", {2})
    undecodable = os.fsdecode(os.fsencode(folder) + b"/caf\xe9\xff" + s.encode())
    odd = [undecodable, f"{folder}/a\nb\x1b[2J{s}"]
    for kind, name in zip(("a non-UTF-8 name", "a newline and escape codes"), odd):
        if inp:  # a usable input under that name
            source = w[slot.valid]
            if source.is_dir():
                shutil.copytree(source, name)
            else:
                shutil.copy(source, name)
        add(kind, name, {0})
    if slot.same is not None:
        add("the command's own input", w[slot.same], {2})
    if not AS_ROOT:
        if inp:
            locked = folder / f"locked{s}"
            (shutil.copytree if w[slot.valid].is_dir() else shutil.copy)(w[slot.valid], locked)
            locked.chmod(0)
            add("unreadable (chmod 000)", locked, {2})
        else:
            (folder / "readonly").mkdir(mode=0o555)
            add("in a read-only folder", folder / "readonly" / f"x{s}", {2})
    return made


def digests(*roots: Path) -> dict[str, str]:
    """sha256 of every regular file under ``roots`` (links not followed)."""
    out = {}
    for root in roots:
        for top, _, files in os.walk(root):
            for name in files:
                if name.endswith(".inktrace.lock"):  # a run's lock: rewritten by every run
                    continue
                path = os.path.join(top, name)
                if os.path.isfile(path) and not os.path.islink(path) and os.access(path, os.R_OK):
                    with open(path, "rb") as f:
                        out[path] = hashlib.sha256(f.read()).hexdigest()
    return out


def call(argv: list[str], capsys) -> tuple[int | str, str, str]:
    capsys.readouterr()
    try:
        with bounded():
            code: int | str = inktrace_main(argv)
    except Hung as exc:
        code = f"hung ({exc})"
    except BaseException as exc:  # noqa: BLE001 - any escape is the failure reported
        code = f"raised {type(exc).__name__}: {exc}"
    got = capsys.readouterr()
    return code, got.out, got.err


def problems(slot: Slot, kind: str, path: str, ok: set[int], result, before, after) -> list[str]:
    code, out, err = result
    where = f"{slot.cli} {slot.name} <- {kind} ({path!r}): exit {code}"
    found = []
    lines = [line for line in err.splitlines() if line.strip()]
    if code not in ok:
        found.append(f"{where}, expected {sorted(ok)}: {err.strip()[-300:]!r}")
    elif code != 0 and len(lines) != 1:
        found.append(f"{where}: {len(lines)} lines on stderr: {err[-300:]!r}")
    if "Traceback" in err or "\x1b" in err or "\x1b" in out:
        found.append(f"{where}: a traceback or a raw escape code: {(out + err)[-300:]!r}")
    target = os.path.realpath(path)
    changed = [
        p
        for p, digest in before.items()
        if after.get(p) != digest and not (code == 0 and os.path.realpath(p) == target)
    ]
    if changed:
        found.append(f"{where}: changed or removed {changed}")
    if code == 0 and slot.role == "out" and path != "/dev/null" and not os.path.isfile(path):
        found.append(f"{where}: exit 0 but {path!r} was not written")
    if code == 0 and slot.role == "outdir" and not os.path.isdir(path):
        found.append(f"{where}: exit 0 but no folder {path!r}")
    return found


@pytest.mark.parametrize("cli", CLIS)
def test_every_path_argument_takes_the_whole_catalogue(cli, world, tmp_path, capsys):
    """Each of ``cli``'s path arguments with each path of the catalogue (module docstring)."""
    found: list[str] = []
    count = 0
    for k, slot in enumerate(s for s in SLOTS if s.cli == cli):
        folder = tmp_path / f"slot{k}"
        for kind, path, ok in cases(slot, world, folder / "paths"):
            work = folder / f"work{count}"
            work.mkdir()
            before = digests(world["base"], folder / "paths")
            result = call(slot.argv(path, world, work), capsys)
            after = digests(world["base"], folder / "paths")
            found += problems(slot, kind, path, ok, result, before, after)
            count += 1
    assert count >= 12 * sum(s.cli == cli for s in SLOTS)  # the whole catalogue ran
    assert not found, "\n".join(found)


@pytest.mark.skipif(not AS_ROOT, reason="run as root: the chmod cases ran in the catalogue")
def test_the_permission_cases_need_a_user_other_than_root():
    pytest.skip(f"not tested here: {NOT_AS_ROOT}")


# ------------------------------------------------------------------ generated names
NAMES = st.one_of(
    st.text(st.characters(blacklist_characters="\x00/"), min_size=1, max_size=40),
    st.binary(min_size=1, max_size=30).map(
        lambda b: os.fsdecode(b.replace(b"\x00", b"_").replace(b"/", b"_"))
    ),
    st.integers(200, 400).map(lambda n: "n" * n),  # more than a file name may hold
)


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "120")) // 3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(slot=st.sampled_from(SLOTS), name=NAMES, exists=st.booleans())
def test_any_file_name_in_any_path_argument(world, tmp_path, capsys, slot, name, exists):
    """A generated name (any characters, undecodable bytes, too long), holding a usable input
    or nothing: exit 0 when it names a usable input or a new output, else one line, exit 2."""
    if name in (".", ".."):
        name = f"dot{name}"
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = os.path.join(folder, name + slot.suffix)
    too_long = len(os.fsencode(name + slot.suffix)) > 255
    if exists and slot.role == "in" and not too_long:
        source = world[slot.valid]
        (shutil.copytree if source.is_dir() else shutil.copy)(source, path)
    if slot.role == "in":
        ok = {0} if exists and not too_long else {2}
    else:
        ok = {2} if too_long else {0}
    work = folder / "work"
    work.mkdir()
    before = digests(world["base"])
    result = call(slot.argv(path, world, work), capsys)
    found = problems(slot, "a generated name", path, ok, result, before, digests(world["base"]))
    assert not found, "\n".join(found)


# ------------------------------------------------------------------ real processes
def run(*argv, env=None, cwd=ROOT):
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        timeout=BOUND,  # a hang guard: a FIFO opened for writing would wait for ever
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        cwd=cwd,
    )


def one_line(proc) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and "\x1b" not in err, err
    return lines[0]


def test_a_report_fifo_nobody_reads_is_one_line_not_a_hang(world, tmp_path):
    os.mkfifo(tmp_path / "report.jsonl")
    out = os.fsencode(tmp_path) + b"/out\xff"  # not UTF-8, under a strict UTF-8 stdout
    proc = run("-m", "inktrace", "trace", str(world["png"]), "--output", out, "--report",
               str(tmp_path / "report.jsonl"), env={"PYTHONIOENCODING": "utf-8"})  # fmt: skip
    assert proc.returncode == 2
    assert "report.jsonl: cannot write (a FIFO that nobody reads)" in one_line(proc)


def test_a_report_to_a_pipe_with_a_reader_is_written(world, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    reader = subprocess.Popen(["cat", str(tmp_path / "pipe")], stdout=subprocess.PIPE)
    try:
        proc = run("-m", "inktrace", "predict", str(world["png"]), "--output",
                   str(tmp_path / "o"), "--report", str(tmp_path / "pipe"))  # fmt: skip
        got = reader.communicate(timeout=BOUND)[0].decode()
    finally:
        reader.kill()
        reader.wait()
    assert proc.returncode == 0, proc.stderr
    assert '"status": "ok"' in got and str(world["png"]) in got


def test_a_report_that_is_an_input_or_not_a_report_is_refused_and_kept(world, tmp_path):
    image = shutil.copy(world["png"], tmp_path / "scan.png")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    kept = {p: Path(p).read_bytes() for p in (image, notes)}
    for report, says in ((image, "is one of the inputs"), (notes, "is not a report")):
        proc = run("-m", "inktrace", "predict", str(image), "--output", str(tmp_path / "o"),
                   "--report", str(report))  # fmt: skip
        assert proc.returncode == 2 and says in one_line(proc)
    assert {p: Path(p).read_bytes() for p in kept} == kept
    earlier = tmp_path / "o" / "run.jsonl"  # an earlier run's report is replaced, as before
    proc = run("-m", "inktrace", "predict", str(image), "--output", str(tmp_path / "o"),
               "--report", str(earlier))  # fmt: skip
    assert proc.returncode == 0
    again = run("-m", "inktrace", "predict", str(image), "--output", str(tmp_path / "o"),
                "--report", str(earlier), "--skip-existing")  # fmt: skip
    assert again.returncode == 0 and '"status": "skipped"' in earlier.read_text()


def test_a_report_that_is_one_of_the_outputs_is_refused_before_anything(world, tmp_path):
    """It was taken, and the image's output then replaced it: the report was lost."""
    out = tmp_path / "o"
    proc = run("-m", "inktrace", "trace", str(world["png"]), "--output", str(out),
               "--report", str(out / (Path(world["png"]).stem + ".json")))  # fmt: skip
    assert proc.returncode == 2 and "is one of the run's outputs" in one_line(proc)
    assert not out.exists()  # refused before the model loads and the folder is made


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_report_that_cannot_be_written_stops_the_report_not_the_images(world, tmp_path):
    """/dev/full stands for a full disk: one line naming --report, every image traced, exit 1
    (it stopped the batch after the first image with 'No space left on device', exit 2)."""
    images = [shutil.copy(world["png"], tmp_path / f"s{k}.png") for k in range(3)]
    proc = run("-m", "inktrace", "trace", *map(str, images), "--output", str(tmp_path / "o"),
               "--report", "/dev/full", "--batch-size", "1")  # fmt: skip
    assert proc.returncode == 1
    assert "--report /dev/full: cannot write (No space left on device)" in one_line(proc)
    assert sorted(p.name for p in (tmp_path / "o").glob("*.svg")) == ["s0.svg", "s1.svg", "s2.svg"]


def test_svg_fifo_and_output_under_a_file_in_real_processes(world, tmp_path):
    os.mkfifo(tmp_path / "glyph.svg")
    proc = run("-m", "inktrace", "preview-data", "--svg", str(tmp_path / "glyph.svg"),
               "--output", str(tmp_path / "g.png"))  # fmt: skip
    assert proc.returncode == 2
    assert "glyph.svg: not a regular file (a FIFO, device or socket)" in one_line(proc)
    proc = run("train.py", "--config", str(world["yaml"]), "--stage", "dense", "--save_dir",
               str(world["png"] / "ck"))  # fmt: skip
    assert proc.returncode == 2 and "Not a directory" in one_line(proc)
    proc = run("-m", "inktrace", "export", str(world["ckpt"]), str(world["png"] / "x.ckpt"))
    assert proc.returncode == 2 and f"{world['png']} is not a folder" in one_line(proc)
    assert not list(tmp_path.glob("g.png"))


# ------------------------------------------------------------------ the whole payload, by CLI
GARBAGE = [
    float("nan"),
    "garbage",
    list(range(100_000)),  # a huge list
    {"a": {"b": [None, {"c": float("inf")}, b"\xff"]}},  # nested garbage
    None,
    -(2**70),
    torch.full((3, 2), float("nan")),
    ["x", 1.5, None],
]


def payload_fields(payload: dict) -> list[tuple[str, ...]]:
    """Every top-level field of a payload and every field of its dict-valued fields (the model's
    weights taken as one), as key paths."""
    found: list[tuple[str, ...]] = []
    for key, value in payload.items():
        found.append((key,))
        if isinstance(value, dict) and key != "model":
            found += [(key, sub) for sub in value if isinstance(sub, str)]
    return found


def replaced(data: dict, keys: tuple[str, ...], value) -> dict:
    out = dict(data)
    out[keys[0]] = replaced(out[keys[0]], keys[1:], value) if len(keys) > 1 else value
    return out


PAYLOAD_CLIS = {
    "train.py --resume": lambda ckpt, w, t: ["train", "--resume", ckpt],
    "export": lambda ckpt, w, t: ["export", ckpt, str(t / "e.ckpt")],
    "trace --checkpoint": lambda ckpt, w, t: ["trace", str(w["png"]), "--checkpoint", ckpt,
                                              "--output", str(t / "o")],
    "compare": lambda ckpt, w, t: ["compare", ckpt, str(w["ckpt"])],
}  # fmt: skip


@pytest.mark.parametrize("cli", PAYLOAD_CLIS)
def test_garbage_in_every_payload_field_through_each_cli(cli, world, tmp_path, capsys):
    """Every field of a real training checkpoint replaced in turn by one of the garbage values
    (the value turning with the field, seeded by the order): used (exit 0) or refused in one
    line (exit 2); never a traceback, a hang, exit 1, or a change to the other files."""
    payload = torch.load(world["ckpt"], weights_only=True)
    fields = payload_fields(payload)
    assert len(fields) >= 40 and ("config", "model") in fields and ("rng", "torch") in fields
    found: list[str] = []
    for k, field in enumerate(fields):
        value = GARBAGE[(k + len(cli)) % len(GARBAGE)]
        case = tmp_path / f"case{k}" / "dense"  # a resumed run continues beside the file
        case.mkdir(parents=True)
        ckpt = case / "fuzz.ckpt"
        torch.save(replaced(payload, field, value), ckpt)
        before = digests(world["base"])
        code, out, err = call(PAYLOAD_CLIS[cli](str(ckpt), world, case), capsys)
        lines = [line for line in err.splitlines() if line.strip()]
        where = f"{cli} with {'.'.join(field)} = {str(value)[:40]}: exit {code}"
        if code not in (0, 2) or (code == 2 and len(lines) != 1) or "Traceback" in err:
            found.append(f"{where}: {err[-300:]!r}")
        if digests(world["base"]) != before:
            found.append(f"{where}: changed the world's files")
    assert not found, "\n".join(found)
