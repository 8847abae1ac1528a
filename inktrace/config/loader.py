"""Reading config files: YAML with line numbers, ``extends:`` chains, and where each value came
from.

A file is read into a raw tree (nested dicts of plain values, nothing validated yet) together with
an *origin* for every dotted key: which file and line set it. Merging a chain keeps, for each key,
the origin of the file that set it last, so errors and ``--explain`` can point at the right line.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from ..errors import ConfigError
from .origin import DEFAULT, Origin
from .packaged import not_found_hint, packaged_path

__all__ = [
    "Origin",
    "DEFAULT",
    "check_plain",
    "check_string_keys",
    "display_path",
    "load_file_tree",
    "merge_tree",
    "origin_of",
    "walk_keys",
]


def walk_keys(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted key, value) of a nested mapping, parents before children."""
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        yield dotted, value
        if isinstance(value, dict):
            yield from walk_keys(value, dotted + ".")


def origin_of(origins: Mapping[str, Origin], dotted: str, fallback: Origin = DEFAULT) -> Origin:
    """The origin of ``dotted`` or of its closest recorded parent."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        hit = origins.get(".".join(parts[:n]))
        if hit is not None:
            return hit
    return fallback


def merge_tree(
    dst: dict, dst_origins: dict, src: Mapping, src_origins: Mapping, prefix: str = ""
) -> None:
    """Deep-merge ``src`` into ``dst``: mappings merge key by key, lists and scalars replace."""
    for key, value in src.items():
        dotted = f"{prefix}{key}"
        if value is None and isinstance(dst.get(key), dict):
            continue  # an empty section (`model:` with its keys commented out) changes nothing
        if dotted in src_origins:
            dst_origins[dotted] = src_origins[dotted]
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            merge_tree(dst[key], dst_origins, value, src_origins, dotted + ".")
            continue
        for stale in [k for k in dst_origins if k.startswith(dotted + ".")]:
            del dst_origins[stale]
        dst[key] = copy.deepcopy(value)
        for k, o in src_origins.items():
            if k.startswith(dotted + "."):
                dst_origins[k] = o


_MAX_VALUES = 100_000  # far beyond any real config; stops alias bombs before they expand
MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: the largest config file read (they are kilobytes)


def _key_lines(
    node: yaml.Node,
    path: str,
    lines: dict[str, int],
    prefix: str = "",
    seen: frozenset = frozenset(),
) -> None:
    """Line (1-based) of every mapping key; a key given twice in one mapping is an error.

    Aliased nodes are not entered again (``seen``), so recursive or exponential aliases stay cheap.
    """
    if not isinstance(node, yaml.MappingNode) or id(node) in seen:
        return
    seen = seen | {id(node)}
    own: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
            continue  # complex keys are rejected later; '<<' merge keys carry no own line
        dotted = f"{prefix}{key_node.value}"
        line = key_node.start_mark.line + 1
        if dotted in own:
            raise ConfigError(
                f"{path}:{line}: {dotted}: key given twice (first on line {own[dotted]})"
            )
        own[dotted] = line
        lines.setdefault(dotted, line)
        _key_lines(value_node, path, lines, dotted + ".", seen)


def check_plain(data: Any, path: str) -> None:
    """Refuse recursive aliases and structures too large to be a config (alias bombs)."""
    count = 0
    stack: list[tuple[Any, tuple[int, ...]]] = [(data, ())]
    while stack:
        value, parents = stack.pop()
        count += 1
        if count > _MAX_VALUES:
            raise ConfigError(
                f"{path}: more than {_MAX_VALUES} values (aliases expanding?): not a config file"
            )
        if isinstance(value, (dict, list)):
            if id(value) in parents:
                raise ConfigError(f"{path}: an alias refers to itself (recursive structure)")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, (*parents, id(value))) for child in children)


def _read_yaml(real_path: str, path: str) -> tuple[Any, dict[str, int]]:
    """Parse the file at ``real_path``; messages name it ``path``."""
    try:
        # checked before opening: opening a FIFO would wait for a writer
        if os.path.exists(real_path) and not os.path.isdir(real_path):
            if not stat.S_ISREG(os.stat(real_path).st_mode):  # /dev/zero, a FIFO, a socket
                raise ConfigError(f"{path}: not a regular file; a config is a YAML file")
        with open(real_path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)  # never more, whatever the file claims
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; a config is a few KiB of YAML"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}): is this a config file?"
        ) from None
    try:
        data = yaml.safe_load(text)  # plain data only: never constructs Python objects
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        problem = f"{context}, {problem}" if context else problem
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed YAML: nested too deeply") from None
    check_plain(data, path)
    lines: dict[str, int] = {}
    if node is not None:
        _key_lines(node, path, lines)
    return data, lines


def check_string_keys(tree: Mapping, path: str, lines: Mapping[str, int], prefix: str = "") -> None:
    for key, value in tree.items():
        if not isinstance(key, str):
            line = lines.get(f"{prefix}{key}")
            where = f"{path}:{line}" if line else path
            raise ConfigError(f"{where}: {prefix}{key!r}: keys must be strings")
        if isinstance(value, dict):
            check_string_keys(value, path, lines, f"{prefix}{key}.")


def display_path(path: str) -> str:
    """A path as short as is unambiguous: relative to the working directory when inside it."""
    path = os.path.normpath(path)
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else os.path.abspath(path)


def load_file_tree(
    path: str | os.PathLike,
    _chain: tuple[str, ...] = (),
    _requested_at: str | None = None,
) -> tuple[dict, dict[str, Origin]]:
    """The merged raw tree of ``path`` and its ``extends:`` chain, with an origin for every key.

    ``extends`` takes a path or a list of paths, relative to the extending file (a name of a
    packaged config that is no file there: the packaged one, packaged.py); parents are merged in
    order, then the file itself on top.
    """
    display = display_path(os.fspath(path))
    real = os.path.realpath(path)
    prefix = f"{_requested_at}: extends: " if _requested_at else ""
    if real in _chain:
        names = [display_path(p) for p in _chain[_chain.index(real) :]] + [display]
        raise ConfigError(f"{_requested_at}: extends: circular chain {' -> '.join(names)}")
    if not os.path.exists(path):
        hint = "" if _requested_at else not_found_hint()
        raise ConfigError(f"{prefix}{display}: config file not found{hint}")
    try:
        data, lines = _read_yaml(os.fspath(path), display)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{display}: the top level must be a mapping of sections, got {type(data).__name__}"
        )
    check_string_keys(data, display, lines)

    parents = data.pop("extends", None)
    ext_where = f"{display}:{lines['extends']}" if "extends" in lines else display
    if parents is None:
        parents = []
    elif isinstance(parents, str):
        parents = [parents]
    if not (isinstance(parents, list) and all(isinstance(p, str) and p.strip() for p in parents)):
        raise ConfigError(
            f"{ext_where}: extends: expected a file path or a list of paths, got {parents!r}"
        )

    tree: dict = {}
    origins: dict[str, Origin] = {}
    base_dir = os.path.dirname(real)  # relative to the file itself, also when reached by a symlink
    for parent in parents:
        parent_path = os.path.join(base_dir, os.path.expanduser(parent))
        packaged = packaged_path(parent)
        if not os.path.exists(parent_path) and packaged is not None:
            parent_path = str(packaged)  # a copied-out config still finds its packaged parents
        p_tree, p_origins = load_file_tree(parent_path, _chain + (real,), ext_where)
        merge_tree(tree, origins, p_tree, p_origins)
    own = {
        k: Origin("file", display, line)
        for k, line in lines.items()
        if k.split(".")[0] != "extends"
    }
    for dotted, _ in walk_keys(data):  # keys without a recorded line (e.g. from '<<' merges)
        own.setdefault(dotted, Origin("file", display))
    merge_tree(tree, origins, data, own)
    return tree, origins
