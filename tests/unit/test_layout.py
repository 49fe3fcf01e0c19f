"""The folders show the architecture: imports only go downwards, and nothing goes round in a circle.

Every import counts, function-level ones included: a circle hidden inside a function is still a circle.
"""
import ast
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "adapters", "services", "pages")  # lowest first
FRAMEWORKS = {"chalice", "boto3", "botocore", "pynamodb"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((PROJECT_DIR / "chalicelib").rglob("*.py")):
        name = ".".join(path.relative_to(PROJECT_DIR).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module name the file imports, at any depth; `from package import module` names the module."""
    named = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            named.add(node.module)
            named.update(f"{node.module}.{alias.name}" for alias in node.names
                         if f"{node.module}.{alias.name}" in MODULES)
    return named


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else None


def _graph() -> dict[str, set[str]]:
    return {name: {imported for imported in _imports(path) if imported in MODULES and imported != name
                   and _layer(imported)} for name, path in MODULES.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{module} imports {imported}" for module, imported_set in graph.items() if _layer(module)
            for imported in imported_set if LAYERS.index(_layer(imported)) > LAYERS.index(_layer(module))]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in graph[node]:
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_every_module_lives_in_a_layer():
    outside = [name for name in MODULES if name != "chalicelib" and _layer(name) is None
               and name not in {f"chalicelib.{layer}" for layer in LAYERS}]
    assert outside == []


def test_imports_only_go_downwards():
    assert upward_imports(_graph()) == []


def test_no_module_imports_itself_round_a_circle():
    assert circles(_graph()) == []


def test_the_domain_imports_no_framework_and_no_adapter():
    offending = []
    for name, path in MODULES.items():
        if _layer(name) != "domain":
            continue
        for imported in _imports(path):
            if imported.split(".")[0] in FRAMEWORKS or _layer(imported) == "adapters":
                offending.append(f"{name} imports {imported}")
    assert offending == []


def test_the_guard_finds_what_it_guards_against():
    """The checks themselves can fail: a made-up upward import and a made-up circle are caught."""
    graph = {"chalicelib.domain.a": {"chalicelib.services.b"}, "chalicelib.services.b": {"chalicelib.domain.a"}}
    assert upward_imports(graph) == ["chalicelib.domain.a imports chalicelib.services.b"]
    assert circles(graph) == [["chalicelib.domain.a", "chalicelib.services.b"]]


def test_the_architecture_page_names_every_module_where_it_lives():
    import re

    page = (PROJECT_DIR / "docs" / "architecture.md").read_text()
    said = {}
    for folder, names in re.findall(r"^\| `chalicelib/(\w+)/` \| (.*) \|$", page, re.M):
        assert (PROJECT_DIR / "chalicelib" / folder).is_dir(), folder
        said.update({f"chalicelib.{folder}.{name}": folder for name in re.findall(r"`(\w+)`", names)})
    actual = {name: _layer(name) for name in MODULES if _layer(name)}
    assert said == actual
