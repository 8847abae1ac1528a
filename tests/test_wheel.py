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

import importlib.metadata
import re
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
    assert "inktrace/pretrained/inktrace-strokes.ckpt" in names  # the stroke model, by name
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
    # (a one-epoch model of 4 channels may trace any number of strokes, one included)
    assert (
        re.search(r": \d+ strokes?$", traced.strip()) and (work / "ours" / "level6.svg").is_file()
    )
    shipped = sh(inktrace, "trace", SAMPLE, "--output", "shipped", cwd=work)
    assert (
        re.search(r": \d+ strokes$", shipped.strip())
        and (work / "shipped" / "level6.json").is_file()
    )
    assert sh(python, "-m", "inktrace", "--version", cwd=work) == sh(inktrace, "--version")


def _runtime_closure() -> set[str]:
    """The distributions the runtime extra needs (NumPy, SciPy, Pillow, PyYAML, tqdm,
    onnxruntime and what they require), as installed here; never torch."""
    pending = ["numpy", "scipy", "pillow", "pyyaml", "tqdm", "onnxruntime"]
    seen: set[str] = set()
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen or name == "torch":
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" not in req:
                pending.append(re.split(r"[ ;<>=!~\[(]", req.strip(), maxsplit=1)[0])
    return seen


def _lend(names: set[str], folder: Path) -> None:
    """Links in ``folder`` to the top-level modules of these installed distributions only."""
    folder.mkdir()
    for name in names:
        dist = importlib.metadata.distribution(name)
        for entry in {Path(str(f)).parts[0] for f in dist.files or []}:
            source = Path(str(dist.locate_file(entry)))
            if entry.endswith((".dist-info", ".data")) or entry == ".." or not source.exists():
                continue
            if not (folder / entry).exists():
                (folder / entry).symlink_to(source)
        info = Path(str(dist.locate_file(""))) / f"{dist.metadata['Name']}-{dist.version}"
        for candidate in Path(str(dist.locate_file(""))).glob("*.dist-info"):
            if candidate.name.lower().startswith(info.name.lower().replace("-", "_")):
                (folder / candidate.name).symlink_to(candidate)


def test_the_wheel_traces_in_an_environment_without_torch(dist, tmp_path):
    """The runtime route: the wheel and numpy/scipy/Pillow/onnxruntime only. The shipped model
    traces through its ONNX export; what needs PyTorch says so in one line, exit 2."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the dev extra has it)")
    env = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", env)
    python = env / "bin" / "python"
    purelib = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    _lend(_runtime_closure(), tmp_path / "lent")
    (Path(purelib) / "lend.pth").write_text(str(tmp_path / "lent") + "\n")
    wheel = next(dist.glob("inktrace-*.whl"))
    sh(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    no_torch = subprocess.run([python, "-c", "import torch"], capture_output=True, cwd=work)
    assert no_torch.returncode != 0 and b"No module named 'torch'" in no_torch.stderr
    inktrace = env / "bin" / "inktrace"
    out = sh(inktrace, "trace", SAMPLE, "--output", "traced", cwd=work)
    assert "strokes" in out and (work / "traced" / "level6.svg").is_file()
    packaged = sh(python, "-c", "import inktrace.pretrained as p; print(p.pretrained_onnx_path())")
    sh(inktrace, "trace", "--checkpoint", packaged.strip(), SAMPLE, "--output", "named", cwd=work)
    assert (work / "named" / "level6.json").read_text() == (
        work / "traced" / "level6.json"
    ).read_text()
    # the same strokes as this environment's onnxruntime path traces (torch installed here)
    here = subprocess.run(
        [
            sys.executable,
            "-m",
            "inktrace",
            "trace",
            "--checkpoint",
            packaged.strip(),
            SAMPLE,
            "--output",
            str(tmp_path / "here"),
        ],
        capture_output=True,
        text=True,
    )
    assert here.returncode == 0, here.stderr
    assert (tmp_path / "here" / "level6.json").read_text() == (
        work / "traced" / "level6.json"
    ).read_text()
    sh(python, "-c", "import inktrace, sys; assert 'torch' not in sys.modules", cwd=work)
    for argv in (
        ["train", "--config", "quickstart"],
        [
            "predict",
            "--checkpoint",
            str(REPO / "inktrace/pretrained/inktrace-small.ckpt"),
            str(SAMPLE),
            "--output",
            "maps",
        ],
        ["export", str(REPO / "inktrace/pretrained/inktrace-small.ckpt"), "x.onnx"],
    ):
        done = subprocess.run([inktrace, *argv], capture_output=True, text=True, cwd=work)
        assert done.returncode == 2, (argv, done.stderr)
        assert done.stderr.count("\n") == 1 and "PyTorch" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (work / "maps").exists() and not (work / "x.onnx").exists()
