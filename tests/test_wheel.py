"""The wheel, tested rather than assumed: built with `python -m build`, installed into a fresh
virtual environment outside the repository, and used from a temporary folder: a tiny
`inktrace train --config quickstart`, then tracing with its best checkpoint and with the shipped
model; the package data are inside the wheel, and the sdist builds.

The fresh environment gets the wheel without dependencies (no network, seconds instead of a
torch download): a .pth file lends it this environment's site-packages for torch, NumPy and the
rest. InkTrace itself comes from the wheel only, which the test checks (``inktrace.__file__``);
this environment's editable install is not visible there (a .pth-added folder's own .pth files,
the editable finder among them, are not run)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("build", reason="the build package is not installed (the dev extra has it)")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "docs" / "samples" / "level6.png"


def sh(*argv, cwd=None, timeout=300) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{argv}: {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    sh(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", out, REPO)
    return out


def test_the_wheel_holds_the_package_data_and_the_sdist_builds(dist):
    wheel = next(dist.glob("inktrace-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("quickstart", "default", "pretrained", "structural", "dense"):
        assert f"inktrace/configs/{name}.yaml" in names
    assert "inktrace/pretrained/inktrace-small.ckpt" in names
    assert "inktrace/deploy/runtime.py" in names
    assert next(dist.glob("inktrace-*.tar.gz")).stat().st_size > 100_000


def test_the_installed_wheel_trains_and_traces_from_a_temporary_folder(dist, tmp_path):
    env = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", env)
    python = env / "bin" / "python"
    purelib = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    (Path(purelib) / "lend.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(dist.glob("inktrace-*.whl"))
    sh(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = sh(python, "-c", "import inktrace; print(inktrace.__file__)", cwd=work)
    assert where.startswith(purelib), where
    inktrace = env / "bin" / "inktrace"
    assert sh(inktrace, "--version", cwd=work).strip().startswith("inktrace ")
    assert "quickstart" in sh(inktrace, "config", "--list", cwd=work)
    tiny = "model.embed_dim=4 model.num_layers=2 data.img_size=32 data.train_size=8 data.val_size=4"
    sets = [w for kv in tiny.split() for w in ("--set", kv)]
    out = sh(
        inktrace, "train", "--config", "quickstart", "--stage", "dense", "--epochs", "1",
        "--batch-size", "4", "--init_from", "none", *sets, cwd=work,
    )  # fmt: skip
    assert "config 'quickstart': the packaged config" in out and "(packaged)" in out
    best = work / "checkpoints" / "quickstart" / "dense" / "best.ckpt"
    assert best.is_file()
    traced = sh(inktrace, "trace", "--checkpoint", best, SAMPLE, "--output", "ours", cwd=work)
    assert "strokes" in traced and (work / "ours" / "level6.svg").is_file()
    shipped = sh(inktrace, "trace", SAMPLE, "--output", "shipped", cwd=work)
    assert "strokes" in shipped and (work / "shipped" / "level6.json").is_file()
    assert sh(python, "-m", "inktrace", "--version", cwd=work) == sh(inktrace, "--version")
