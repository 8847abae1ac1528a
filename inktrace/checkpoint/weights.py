"""Loading model weights from state dicts written by other wrappers, with a readable report.

``strip_prefixes`` undoes the key prefixes that wrappers add:

* ``module.`` (DataParallel / DistributedDataParallel) and ``model.`` (Lightning-style
  ``LightningModule.model``) are removed only when *every* key carries them, repeatedly and in
  any order (``module._orig_mod.model.x`` -> ``x``). A net with a real submodule named ``model``
  keeps its keys as long as it has any other top-level parameter; if ``model`` is its only
  top-level child the heuristic cannot tell, which is why :func:`load_weights` does not rely on it
  blindly (see there).
* ``_orig_mod`` (``torch.compile``) is a name only torch.compile uses, so it is removed wherever it
  appears as a path segment, also in the middle (a compiled submodule: ``encoder._orig_mod.conv``).

A step whose result would give two keys the same name is not applied.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import CheckpointError

__all__ = ["strip_prefixes", "load_weights", "check_fits", "WeightsReport", "group_keys"]

_WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")
_MAX_GROUP = 8  # a group with more members is shown as "prefix.* (N keys)"


# ---------------------------------------------------------------------------------- prefixes
def _drop_orig_mod(key: str) -> str:
    parts = key.split(".")
    kept = [p for p in parts[:-1] if p != "_orig_mod"] + parts[-1:]
    return ".".join(kept)


def _strip_steps(keys: list[str]) -> list[tuple[list[str], Any]]:
    """Successive renamings of ``keys``: [(keys, how), ...], starting with the keys unchanged.
    ``how`` is None, "orig_mod" or the stripped prefix (used to rename ``_metadata`` alike)."""
    steps: list[tuple[list[str], Any]] = [(list(keys), None)]
    cur = [_drop_orig_mod(k) for k in keys]
    if cur != keys and len(set(cur)) == len(cur):
        steps.append((cur, "orig_mod"))
    else:
        cur = list(keys)
    while cur:
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) and len(k) > len(prefix) for k in cur):
                nxt = [k[len(prefix) :] for k in cur]
                if len(set(nxt)) == len(nxt):
                    cur = nxt
                    steps.append((cur, prefix))
                    break
        else:
            break
    return steps


def _rename_metadata(metadata: Any, hows: list[Any]) -> Any:
    """Apply the same renamings to a state dict's ``_metadata`` (module prefix -> version info)."""
    if not isinstance(metadata, Mapping):
        return None
    meta = OrderedDict(metadata)
    for how in hows:
        out: OrderedDict = OrderedDict()
        for k, v in meta.items():
            if how == "orig_mod":
                out[".".join(p for p in k.split(".") if p != "_orig_mod")] = v
            elif k == how[:-1]:
                out[""] = v
            elif k.startswith(how):
                out[k[len(how) :]] = v
        meta = out
    return meta


def _renamed(state_dict: Mapping, steps_taken: int) -> OrderedDict[str, Any]:
    keys = [k for k in state_dict.keys() if isinstance(k, str)]
    steps = _strip_steps(keys)[: steps_taken + 1]
    new_keys = steps[-1][0]
    out: OrderedDict = OrderedDict(zip(new_keys, (state_dict[k] for k in keys)))
    for k in state_dict.keys():
        if not isinstance(k, str):
            out[k] = state_dict[k]
    meta = _rename_metadata(getattr(state_dict, "_metadata", None), [how for _, how in steps[1:]])
    if meta is not None:
        out._metadata = meta  # type: ignore[attr-defined]
    return out


def strip_prefixes(state_dict: Mapping[str, Any]) -> OrderedDict[str, Any]:
    """``state_dict`` with wrapper prefixes removed (see the module docstring): ``module.`` and
    ``model.`` when on all keys, ``_orig_mod`` segments anywhere. Values are not copied; a
    ``_metadata`` attribute (module versions) is renamed alike and kept."""
    keys = [k for k in state_dict.keys() if isinstance(k, str)]
    return _renamed(state_dict, len(_strip_steps(keys)) - 1)


# ---------------------------------------------------------------------------------- report
def _shape(shape: Any) -> str:
    return (
        "(" + ", ".join(str(int(s)) for s in shape) + ")"
        if len(shape) != 1
        else f"({int(shape[0])},)"
    )


def group_keys(keys: list[str], universe: list[str] | None = None) -> list[tuple[str, list[str]]]:
    """Group dotted keys by module, fvcore-style: ``[(prefix, [rest, ...]), ...]`` in first-seen
    order.

    With ``universe`` (all keys of that side: the model's for missing keys, the checkpoint's for
    unexpected ones), a key goes under its highest module whose keys are *all* in ``keys`` (a whole
    missing head collapses into one group); otherwise under its parent module. A key without a
    dot, or alone in its group, is a group of its own with prefix = the key and rest = [""].
    """
    keyset = set(keys)
    covered: dict[str, bool] = {}
    if universe is not None:
        for k in list(universe) + list(keys):
            parts = k.split(".")
            for i in range(1, len(parts)):
                p = ".".join(parts[:i])
                covered[p] = covered.get(p, True) and k in keyset
    groups: dict[str, list[str]] = {}
    for k in keys:
        parts = k.split(".")
        prefix = ".".join(parts[:-1])
        if universe is not None:
            for i in range(1, len(parts)):
                p = ".".join(parts[:i])
                if covered.get(p):
                    prefix = p
                    break
        if not prefix:
            groups.setdefault(k, []).append("")
            continue
        groups.setdefault(prefix, []).append(k[len(prefix) + 1 :])
    out = []
    for prefix, rest in groups.items():
        if len(rest) == 1 and rest[0]:
            out.append((f"{prefix}.{rest[0]}", [""]))
        else:
            out.append((prefix, rest))
    return out


def _render(prefix: str, rest: list[str]) -> str:
    if rest == [""]:
        return prefix
    if len(rest) > _MAX_GROUP:
        return f"{prefix}.* ({len(rest)} keys)"
    return f"{prefix}.{{{', '.join(rest)}}}"


def _names(items: list[str], limit: int = 3) -> str:
    return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")


@dataclass
class WeightsReport:
    """What :func:`load_weights` did (or would do). Keys are after prefix stripping.

    ``mismatched`` holds ``(key, checkpoint_shape, model_shape)``; non-tensor checkpoint entries
    count as ``unexpected``. ``model_keys``/``checkpoint_keys`` (all keys of each side) only
    refine the grouping in :meth:`format`.
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    model_keys: list[str] | None = field(default=None, repr=False)
    checkpoint_keys: list[str] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """One line: ``loaded 120 tensors; 6 missing (heads.width, heads.offset), 0 unexpected,
        0 with another shape``."""

        def part(count: int, what: str, names: list[str]) -> str:
            return f"{count} {what}" + (f" ({_names(names)})" if count else "")

        missing = [p for p, _ in group_keys(self.missing, self.model_keys)]
        unexpected = [p for p, _ in group_keys(self.unexpected, self.checkpoint_keys)]
        return (
            f"loaded {len(self.loaded)} tensors; {part(len(self.missing), 'missing', missing)}, "
            f"{part(len(self.unexpected), 'unexpected', unexpected)}, "
            f"{part(len(self.mismatched), 'with another shape', [m[0] for m in self.mismatched])}"
        )

    def format(self) -> str:
        """The summary, then one line per group of missing / unexpected keys and per mismatch."""
        lines = [self.summary()]
        lines += [
            f"missing in checkpoint: {_render(p, r)}"
            for p, r in group_keys(self.missing, self.model_keys)
        ]
        lines += [
            f"unexpected in checkpoint: {_render(p, r)}"
            for p, r in group_keys(self.unexpected, self.checkpoint_keys)
        ]
        lines += [
            f"shape mismatch: {k} checkpoint {_shape(c)} vs model {_shape(m)}"
            for k, c, m in self.mismatched
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


# ---------------------------------------------------------------------------------- loading
def load_weights(
    module: torch.nn.Module, state_dict: Mapping[str, Any], strict: bool = True
) -> WeightsReport:
    """Load ``state_dict`` into ``module``: every key whose name and shape fit.

    Wrapper prefixes are stripped as far as that makes more keys match the module (the renaming
    chain of :func:`strip_prefixes`, choosing the step matching the most module keys; ties go to
    the more stripped one), so a net whose only child is called ``model`` still loads its own
    state dict. Shape mismatches are never silently dropped: they are in the report.

    ``strict=True``: anything missing, unexpected or mismatched raises CheckpointError (one line,
    the summary) *before* the module is touched. ``strict=False``: loads what fits and returns the
    report; check ``report.ok`` / log ``report.format()``.
    """
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(
            f"weights: expected a state dict (names -> tensors), got {type(state_dict).__name__}"
        )
    target = module.state_dict()
    str_keys = [k for k in state_dict.keys() if isinstance(k, str)]
    steps = _strip_steps(str_keys)
    scores = [sum(k in target for k in keys) for keys, _ in steps]
    chosen = max(range(len(steps)), key=lambda i: (scores[i], i))
    renamed = _renamed(state_dict, chosen)

    report = WeightsReport(model_keys=list(target), checkpoint_keys=[str(k) for k in renamed])
    to_load: OrderedDict = OrderedDict()
    for key, value in renamed.items():
        if not isinstance(key, str) or key not in target:
            report.unexpected.append(str(key))
            continue
        wanted = target[key]
        if not isinstance(wanted, torch.Tensor):  # get_extra_state(): any value is fine
            to_load[key] = value
            report.loaded.append(key)
        elif not isinstance(value, torch.Tensor):
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(wanted.shape):
            report.mismatched.append((key, tuple(value.shape), tuple(wanted.shape)))
        else:
            to_load[key] = value
            report.loaded.append(key)
    present = {k for k in renamed if isinstance(k, str)}
    report.missing = [k for k in target if k not in present]

    if strict and not report.ok:
        raise CheckpointError(f"weights do not fit the model: {report.summary()}")
    meta = getattr(renamed, "_metadata", None)
    if meta is not None:
        to_load._metadata = meta  # type: ignore[attr-defined]
    try:
        module.load_state_dict(to_load, strict=False)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())
        raise CheckpointError(f"weights could not be loaded: {reason[:300]}") from None
    return report


def check_fits(
    shapes: Mapping[str, tuple[int, ...]], state_dict: Mapping[str, Any], where: str
) -> None:
    """CheckpointError (one line) unless ``state_dict`` (wrapper prefixes stripped) holds exactly
    the tensors ``shapes`` names, each of that shape: what a strict load needs, checked before
    any model is built (``shapes`` comes from the model's meta-device shell, nothing allocated),
    so a few bytes of config cannot make a reader allocate gigabytes for weights it then
    refuses."""
    renamed = strip_prefixes(state_dict)
    report = WeightsReport(model_keys=list(shapes), checkpoint_keys=[str(k) for k in renamed])
    for key, value in renamed.items():
        if not isinstance(key, str) or key not in shapes or not isinstance(value, torch.Tensor):
            report.unexpected.append(str(key))
        elif tuple(value.shape) != tuple(shapes[key]):
            report.mismatched.append((key, tuple(value.shape), tuple(shapes[key])))
        else:
            report.loaded.append(key)
    report.missing = [k for k in shapes if k not in renamed]
    if not report.ok:
        raise CheckpointError(
            f"{where}: weights do not fit the stored model configuration ({len(renamed)} "
            f"tensors, the configuration has {len(shapes)}: {report.summary()})"
        )
