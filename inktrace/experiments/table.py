"""The runs table: one row per training run found under some folders, read from the JSON logs a
run writes (``training_config.json``, ``training_log.json``, ``training_summary.json``).

``find_runs(folders)`` returns the rows as dicts (``pandas.DataFrame(rows)`` is one line):
``run_dir``, ``experiment``, ``stage``, ``status``, ``epochs`` (done), ``planned``, ``monitor``,
``best`` (the monitored value) and ``best_epoch`` (1-based), ``parameters``, ``duration_s``, and
``settings``: the settings that differ between the runs found (dotted keys, e.g.
``training.lr``), so a sweep's rows say what was swept. A run without a summary is ``running``
while a process holds its folder's lock (training/folders.py), else ``stopped`` (killed).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..training.folders import is_locked

__all__ = ["find_runs", "format_rows", "COLUMNS", "FORMATS"]

COLUMNS = (
    "experiment",
    "stage",
    "status",
    "epochs",
    "best",
    "best_epoch",
    "parameters",
    "duration_s",
    "run_dir",
)
FORMATS = ("table", "csv", "json", "markdown")
# settings that always differ between runs and say nothing about them
_NOT_SETTINGS = (
    "start_time",
    "config_source",
    "system.",
    "logging.",
    "checkpoint.",
    "experiment.",
    "stage",
    "trainer",
    "init_from.",
    "model.total_parameters",
    "model.trainable_parameters",
    "data.train_samples",
    "data.val_samples",
    "data.val_stage",
    "training.steps_per_epoch",
    "training.precision_resolved",
)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _run_dirs(folders: Iterable[str | os.PathLike]) -> list[Path]:
    found: set[Path] = set()
    for folder in folders:
        folder = Path(folder)
        if not folder.exists():
            raise FileNotFoundError(f"{folder}: no such folder")
        if (folder / "training_config.json").is_file():
            found.add(folder)
        found.update(p.parent for p in folder.rglob("training_config.json"))
    return sorted(found)


def _row(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    config = _read(run_dir / "training_config.json") or {}
    summary = _read(run_dir / "training_summary.json")
    log = _read(run_dir / "training_log.json") or {}
    history = log.get("training_history") or {}
    done = len(history.get("epoch") or [])
    training = config.get("training") or {}
    best_metrics = log.get("best_metrics") or {}
    monitor = (summary or {}).get("monitor")
    if summary:
        status = summary.get("status")
        best, best_epoch = summary.get("best_value"), summary.get("best_epoch")
        duration = summary.get("duration_seconds")
        done = summary.get("total_epochs", done)
    else:
        status = "running" if is_locked(run_dir) else "stopped"
        best = best_epoch = duration = None
        if best_metrics:
            best_epoch = best_metrics.get("epoch")
    row = {
        "run_dir": str(run_dir),
        "experiment": (config.get("experiment") or {}).get("name"),
        "stage": config.get("stage"),
        "status": status,
        "epochs": done,
        "planned": training.get("epochs"),
        "monitor": monitor,
        "best": best,
        "best_epoch": None if best_epoch is None else int(best_epoch) + 1,
        "parameters": (config.get("model") or {}).get("total_parameters"),
        "duration_s": duration,
    }
    settings = {
        k: v
        for k, v in _flat(config).items()
        if not k.startswith(_NOT_SETTINGS) and not isinstance(v, list)
    }
    return row, settings


def find_runs(folders: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """One dict per run found under ``folders`` (see the module docstring)."""
    pairs = [_row(d) for d in _run_dirs(folders)]
    keys = sorted({k for _, s in pairs for k in s})
    differ = [k for k in keys if len({repr(s.get(k)) for _, s in pairs}) > 1]
    for row, settings in pairs:
        row["settings"] = {k: settings.get(k) for k in differ}
    return [row for row, _ in pairs]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_rows(rows: Sequence[Mapping[str, Any]], fmt: str = "table") -> str:
    """The rows as an aligned table, CSV, JSON or a Markdown table (the differing settings are
    columns of their own)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(list(rows), indent=2) + "\n"
    setting_keys = sorted({k for r in rows for k in (r.get("settings") or {})})
    header = [*COLUMNS[:-1], *setting_keys, "run_dir"]
    lines = []
    for r in rows:
        values = {**r, **(r.get("settings") or {})}
        if r.get("planned") is not None:
            values["epochs"] = f"{r['epochs']}/{r['planned']}"
        lines.append([_cell(values.get(k)) for k in header])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(lines)
        return out.getvalue()
    if fmt == "markdown":
        head = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
        return head + "".join("| " + " | ".join(line) + " |\n" for line in lines)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt_line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt_line.format(*row).rstrip() for row in [header, *lines]) + "\n"
