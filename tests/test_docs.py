"""Every shell command of the README and docs/*.md runs, on tiny settings, so the docs cannot rot.

The commands run in order, in one workspace that links the repository's configs, samples and
scripts (so a command can use what an earlier one wrote: the quickstart's checkpoints, a run to
resume). They are shortened by the rules below (fewer samples and epochs, a smaller model, two
characters for ``evaluate``); ``pip install`` and the test command itself are not run (this is
their environment). A block preceded by ``<!-- docs-test: skip REASON -->`` is not run; the
reason says where its behaviour is tested instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED = ("configs", "docs", "train.py", "train_structural.py", "train_dense.py", "train_pl.py")
LINKED += ("scripts", "examples", "benchmarks", "train_lib.py")
TINY = [
    "--set", "data.train_size=8", "--set", "data.val_size=4", "--set", "data.img_size=32",
    "--set", "model.embed_dim=4", "--set", "model.num_layers=2", "--set", "data.num_workers=0",
    "--set", "training.batch_size=4", "--set", "logging.progress_bar=false",
]  # fmt: skip


def commands() -> list[tuple[str, int, str]]:
    """(file, line, command) for every command of every bash block not marked skip."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(
            r"(<!-- docs-test: skip[^>]*-->\s*\n)?```(?:bash|sh)\n(.*?)```", text, re.S
        ):
            if m.group(1):
                continue
            line_no = text[: m.start(2)].count("\n") + 1
            block = m.group(2).replace("\\\n", " ")
            for i, line in enumerate(block.splitlines()):
                line = re.sub(r"\s{2,}#.*$", "", line).strip()
                if line and not line.startswith("#"):
                    found.append((doc.name, line_no + i, line))
    return found


def shorten(command: str) -> str | None:
    """The command as the test runs it, or None when it is not run (see the module docstring)."""
    parts = [p.strip() for p in command.split("&&")]
    parts = [p for p in parts if not p.startswith("pip install") and "pytest" not in p]
    parts = [p for p in parts if not p.startswith("tensorboard")]  # a server: it never ends
    if not parts:
        return None
    out = []
    for p in parts:  # kept as text: the shell expands globs (scans/*.png) as it would for a user
        p = re.sub(r"\[[^\]]*\]", "", p)  # a synopsis's optional parts
        p = re.sub(r"--epochs \d+", "--epochs " + ("2" if "--resume" in p else "1"), p)
        words = shlex.split(p)
        runs = words[:2] in (["python", "train.py"], ["inktrace", "config"], ["inktrace", "train"])
        if runs and not {"--save", "--list"} & set(words):
            p += "" if "--epochs" in words else " --epochs 1"
            p += " " + " ".join(TINY)
        elif words[:2] == ["inktrace", "evaluate"]:
            p += " --count 2 --size 32"
        if words[0] == "python":
            p = shlex.quote(sys.executable) + p[len("python") :]
        out.append(p)
    return " && ".join(out)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("docs")
    for name in LINKED:
        if (ROOT / name).exists():
            (ws / name).symlink_to(ROOT / name)
    (ws / "scans").mkdir()
    for png in (ROOT / "docs" / "samples").glob("*.png"):
        shutil.copy(png, ws / "scans" / png.name)
    return ws


def test_the_docs_have_commands_and_markers_are_well_formed():
    found = commands()
    assert len(found) >= 15
    for doc in DOCS:
        for marker in re.findall(r"<!-- docs-test:[^>]*-->", doc.read_text()):
            assert re.fullmatch(r"<!-- docs-test: skip \S.*-->", marker), (doc.name, marker)


def test_every_command_of_the_docs_runs(workspace):
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    ran = 0
    for doc, line, command in commands():
        short = shorten(command)
        if short is None:
            continue
        done = subprocess.run(
            short, shell=True, cwd=workspace, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, (
            f"{doc}:{line}: {short}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        )
        ran += 1
    assert ran >= 12
