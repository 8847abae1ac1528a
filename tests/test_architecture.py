"""The package's shape: no import cycles and no imports of the package hidden inside functions.
Module size is decided by cohesion, not by a line cap (see CONTRIBUTING.md).

Imports made on first use (PyTorch kept out of ``import inktrace`` and of tracing with an ONNX
model) are declared, never hidden: a package's ``_LAZY`` table (inktrace/lazy.py) and the
``inktrace`` command's ``COMMANDS`` table name their modules, and count as imports here; any other
``importlib.import_module`` of the package is refused."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "inktrace"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def targets(importer: str, node: ast.AST) -> list[str]:
    """The inktrace modules an import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        module = resolve(importer, node)
        names = [module] + [f"{module}.{alias.name}" for alias in node.names]
    else:
        return []
    return [n for n in names if n in MODULES]


def absolute(importer: str, relative: str) -> str:
    """``relative`` (``.x``, ``..y.z``) as an absolute module name seen from ``importer``."""
    if not relative.startswith("."):
        return relative
    level = len(relative) - len(relative.lstrip("."))
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    rest = relative.lstrip(".")
    return ".".join(base + ([rest] if rest else []))


def declared(name: str, tree: ast.Module) -> set[str]:
    """The modules a ``_LAZY`` or ``COMMANDS`` table at module level names (see the docstring)."""
    out = set()
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if not (isinstance(target, ast.Name) and target.id in ("_LAZY", "COMMANDS")):
            continue
        assert isinstance(value, ast.Dict), f"{name}: {target.id} must be a dict literal"
        for entry in value.values:
            text = entry.elts[0] if isinstance(entry, ast.Tuple) else entry
            assert isinstance(text, ast.Constant), f"{name}: {target.id} values must be literal"
            module = absolute(name, str(text.value).partition(":")[0])
            assert module in MODULES, f"{name}: {target.id} names {module}, not a module"
            out.add(module)
    return out


def imports(name: str) -> tuple[set[str], list[tuple[int, str]]]:
    """(modules imported at module level, [(line, module)] imported inside functions)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    top = {t for node in tree.body for t in targets(name, node)} | declared(name, tree)
    nested = [
        (node.lineno, t)
        for fn in ast.walk(tree)
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(fn)
        for t in targets(name, node)
    ]
    return top, nested


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_graph_has_no_cycles():
    graph = {name: imports(name)[0] - {name} for name in MODULES}
    assert len(graph) > 40 and graph["inktrace.training.trainer"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_the_package_inside_a_function():
    hidden = [
        f"{name}:{line} imports {target}" for name in MODULES for line, target in imports(name)[1]
    ]
    assert not hidden, "imports hidden inside functions: " + "; ".join(hidden)


def test_lazy_tables_are_read_as_imports():
    assert "inktrace.inference.predictor" in imports("inktrace.inference")[0]
    assert "inktrace.training" in imports("inktrace")[0]
    assert {"inktrace.cli.train", "inktrace.cli.trace"} <= imports("inktrace.cli.main")[0]


def test_the_package_is_imported_by_name_only_through_the_tables():
    """``importlib.import_module`` of an inktrace module (a relative name, ``__package__`` or
    ``inktrace...``) only in lazy.py, the CLI's dispatcher and the model loaders."""
    allowed = {"inktrace.lazy", "inktrace.cli.main", "inktrace.inference.loading"}
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module"
            ):
                continue
            first = node.args[0] if node.args else None
            ours = any(
                isinstance(a, ast.Name) and a.id in ("__package__", "__name__") for a in node.args
            ) or (
                isinstance(first, ast.Constant) and str(first.value).startswith((".", "inktrace"))
            )
            if ours and name not in allowed:
                found.append(f"{name}:{node.lineno}")
    assert not found, found
