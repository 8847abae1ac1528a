"""benchmarks/bench_trainer.py runs end to end on tiny settings and prints its ratio rows (the
figures themselves mean nothing at this size and are not checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_trainer_benchmark_quick_run_prints_every_ratio(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, str(ROOT / "benchmarks" / "bench_trainer.py"), "--quick"]
    argv += ["--repeats", "1", "--no-lightning", "--threads", "1", "--dir", str(tmp_path)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for row in (
        "short: trainer / bare loop",
        "long: trainer / bare loop",
        "checkpoint: links / copies (time)",
    ):
        (line,) = [x for x in lines if x.startswith(row)]
        assert "IQR" in line and "n=" in line, line
    assert any(x.startswith("short: trainer / lightning: not run") for x in lines)
    for loop in ("bare hand-written loop", "DenseTrainer.fit()"):
        assert sum(loop in x for x in lines) == 2  # both variants
    assert "save: one full write + hard links" in done.stdout
    assert not list(tmp_path.iterdir())  # its runs' folders are removed
