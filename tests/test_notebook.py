"""examples/quickstart.ipynb in a real Jupyter kernel (nbclient + ipykernel, the notebook extra):
top to bottom, the training cell run twice in one kernel, and a kernel interrupt during fit()."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def test_the_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def test_the_notebook_runs_top_to_bottom_in_a_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("INKTRACE_NOTEBOOK_OUT", str(tmp_path / "out"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(out.get("output_type") != "error" for c in code for out in c.outputs)
    trained = _text(code[2])
    assert "('completed'," in trained and "best.ckpt" in trained
    images = [o for o in code[-1].outputs if "image/png" in o.get("data", {})]
    svgs = [o for o in code[-1].outputs if "image/svg+xml" in o.get("data", {})]
    assert len(images) == 1 and len(svgs) == 1  # the overlay and the SVG, inline
    assert "the shipped model:" in _text(code[-1])
    summary = json.loads(
        (tmp_path / "out" / "runs" / "dense" / "training_summary.json").read_text()
    )
    assert summary["status"] == "completed" and summary["total_epochs"] == 3


SETUP = """
import os, signal, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from inktrace import Config, DenseTrainer
cfg = Config.from_yaml({config!r}, stage="dense", overrides={{
    "data.train_size": {size}, "data.val_size": 8, "training.epochs": {epochs},
    "init_from": "none", "checkpoint.save_dir": {out!r} + "/ck",
    "logging.log_dir": {out!r} + "/runs",
    "data.img_size": 32, "model.embed_dim": 4, "model.num_layers": 2}})
handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
"""
CHECK = """
def event_files_open():
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:  # another thread's descriptor may close between the listing and the read
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return [n for n in names if "tfevents" in n or n.endswith(".json")]
print("restored", (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers)
print("open", event_files_open())
"""


def _run(kc, code, timeout=180):
    out = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    return reply["content"]["status"], "".join(out)


def _configure(kc, out: Path, size: int, epochs: int) -> None:
    """Define ``cfg`` (a tiny quickstart writing under ``out``) and ``handlers`` in the kernel."""
    config = str(ROOT / "configs" / "quickstart.yaml")
    setup = SETUP.format(root=str(ROOT), config=config, size=size, epochs=epochs, out=str(out))
    assert _run(kc, setup)[0] == "ok"


@pytest.fixture
def kernel():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_training_twice_in_one_kernel_leaks_nothing(tmp_path, kernel):
    km, kc = kernel
    _configure(kc, tmp_path, size=16, epochs=1)
    for _ in range(2):  # the same cell again, as a user re-running it
        status, text = _run(kc, "s = DenseTrainer(cfg, verbose=False).fit(); print(s['status'])")
        assert status == "ok" and "completed" in text, text
        status, text = _run(kc, CHECK)
        assert "restored True" in text and "open []" in text, text
    runs = sorted(p.parent.name for p in (tmp_path / "runs").rglob("training_summary.json"))
    assert runs == ["dense", "version_1"]  # the second run kept the first's logs


def test_interrupting_the_kernel_during_fit_leaves_a_resumable_checkpoint(tmp_path, kernel):
    km, kc = kernel
    _configure(kc, tmp_path, size=2000, epochs=50)
    msg_id = kc.execute("s = DenseTrainer(cfg, verbose=False).fit(); print(s['status'])")
    last = tmp_path / "ck" / "dense" / "last.ckpt"
    end = time.time() + 120
    while not (tmp_path / "runs" / "dense" / "training_config.json").exists():
        assert time.time() < end
        time.sleep(0.1)
    time.sleep(1.0)  # mid-epoch
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok"  # fit() returned: the stop was handled
    status, text = _run(kc, "print(s['status'], s['last_checkpoint'])")
    assert status == "ok" and text.startswith("interrupted ") and str(last) in text
    status, text = _run(kc, CHECK)
    assert "restored True" in text and "open []" in text
    import torch

    ckpt = torch.load(last, weights_only=True)
    assert ckpt["position"]["batch"] > 0 or ckpt["position"]["epoch"] > 0
    status, text = _run(
        kc,
        f"r = DenseTrainer(cfg, resume={str(last)!r}, verbose=False)\nprint(r.state.global_step)",
    )
    assert status == "ok" and int(text.strip()) == ckpt["global_step"]
