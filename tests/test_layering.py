"""The package's layering is one-way: a module imports only modules of its own layer or lower ones.

    cli  ->  demo / analysis / training / compare  ->  rewards  ->  evaluation  ->  gradnorm / sandbox
         ->  data / models (and the leaves errors, tiny, precision)

Checked statically over every `import` in src/vigor (function-local imports and `importlib.import_module` calls
with a literal name included), and dynamically for the data layer (importing it must not pull in the evaluation
layer). No two modules import each other, directly or round a longer loop, at any depth.
"""

import ast
import subprocess
import sys
from pathlib import Path

from vigor.cli import COMMAND_MODULES

SRC = Path(__file__).resolve().parents[1] / "src" / "vigor"

LAYERS = {  # first component under vigor -> layer (higher may import lower, never the reverse)
    "": 0, "errors": 0, "tiny": 0, "data": 0, "models": 0, "precision": 0,
    "gradnorm": 1, "sandbox": 1,
    "evaluation": 2,
    "rewards": 3,
    "demo": 4, "analysis": 4, "training": 4, "compare": 4,
    "cli": 5,
}
# Command-line modules (the ones vigor.cli registers, and every `cli` module) sit in their package's folder but
# belong to the top layer: they may import anything.
CLI_MODULES = set(COMMAND_MODULES)


def module_name(path: Path) -> str:
    parts = ["vigor", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    if module in CLI_MODULES or parts[-1] == "cli":
        return LAYERS["cli"]
    top = parts[1] if len(parts) > 1 else ""
    assert top in LAYERS, f"{module}: no layer declared for 'vigor.{top}'; add it to LAYERS in {__file__}"
    return LAYERS[top]


def literal_import_module(node) -> str | None:
    """The name of an `importlib.import_module("...")` (or `import_module("...")`) call with a literal name."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    first = node.args[0]
    if called == "import_module" and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def vigor_imports(source: str, importer: str, *, is_package: bool = False):
    """(line, imported module) for every import of a vigor module in `source`, at any depth. `from vigor.x import y`
    is an import of vigor.x (and of vigor.x.y where that is a module: see `import_graph`)."""
    package = importer if is_package else importer.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if (dynamic := literal_import_module(node)) is not None:
            names = [dynamic]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the importer's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names = [f"{base}.{node.module}" if node.module else base]
            else:
                names = [node.module]
        else:
            continue
        yield from ((node.lineno, n) for n in names if n == "vigor" or n.startswith("vigor."))


def upward_imports(source: str, importer: str, *, is_package: bool = False) -> list[str]:
    return [f"line {line}: {importer} (layer {layer_of(importer)}) imports {imported} (layer {layer_of(imported)})"
            for line, imported in vigor_imports(source, importer, is_package=is_package)
            if layer_of(imported) > layer_of(importer)]


def test_no_module_imports_a_higher_layer():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20, f"found only {len(files)} source files under {SRC}"
    violations = [f"{path.relative_to(SRC.parent)}: {v}" for path in files
                  for v in upward_imports(path.read_text(), module_name(path), is_package=path.name == "__init__.py")]
    assert not violations, "\n".join(violations)


def test_the_checker_finds_an_upward_import():
    """The static check is not vacuous: an upward import, even inside a function or relative, is found."""
    source = (SRC / "data" / "formats.py").read_text()
    assert upward_imports(source, "vigor.data.formats") == []
    local = source + "\n\ndef _upward():\n    from vigor.evaluation.grading import grade_math\n"
    assert len(upward_imports(local, "vigor.data.formats")) == 1
    relative = "from ..rewards import RewardSet\n"
    assert upward_imports(relative, "vigor.evaluation.grading") == \
        ["line 1: vigor.evaluation.grading (layer 2) imports vigor.rewards (layer 3)"]
    assert upward_imports("import vigor.training.run\n", "vigor.rewards.base") != []


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """{module: the vigor modules it imports} over `sources` ({module: (source, is_package)}), at any depth.
    `from vigor.x import y` counts as importing vigor.x.y when that is one of the modules."""
    graph = {}
    for module, (source, is_package) in sources.items():
        edges, submodules_only = set(), set()  # (line, package) of `from vigor.pkg import module, ...`
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vigor") and not node.level:
                named = [f"{node.module}.{a.name}" for a in node.names]
                edges.update(m for m in named if m in sources)
                if all(m in sources for m in named):  # the package is imported as every submodule's parent is
                    submodules_only.add((node.lineno, node.module))
        edges.update(m for line, m in vigor_imports(source, module, is_package=is_package)
                     if (line, m) not in submodules_only)
        graph[module] = {m for m in edges if m in sources and m != module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each loop of imports (a strongly connected set of two or more modules, Tarjan's algorithm), sorted."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def package_sources() -> dict[str, tuple[str, bool]]:
    return {module_name(path): (path.read_text(), path.name == "__init__.py") for path in sorted(SRC.rglob("*.py"))}


# Loops another developer's work removes (issue 19 item 2 reworks make_reward); each must still be there, so that
# the line goes once it is fixed.
PENDING_CYCLES: list[list[str]] = []  # loops known and not yet removed (none)


def test_no_import_cycles():
    sources = package_sources()
    graph = import_graph(sources)
    graph["vigor.cli"] |= set(COMMAND_MODULES)  # imported by name from its list (importlib.import_module(name))
    assert sum(map(len, graph.values())) > 50, "the import graph is implausibly small"
    cycles = import_cycles(graph)
    assert [c for c in cycles if c not in PENDING_CYCLES] == []
    assert [c for c in PENDING_CYCLES if c not in cycles] == [], "a pending loop is gone: delete it from PENDING_CYCLES"


def test_the_cycle_checker_finds_a_planted_cycle():
    """Loops through a function-local import, an importlib call and a `from package import module` are found."""
    sources = package_sources()
    planted = dict(sources)
    source, is_package = sources["vigor.gradnorm.common"]
    planted["vigor.gradnorm.common"] = (source + "\n\ndef _loop():\n    import importlib\n\n"
                                        "    return importlib.import_module(\"vigor.gradnorm.engine\")\n", is_package)
    assert "vigor.gradnorm.common" in import_graph(sources)["vigor.gradnorm.engine"]  # engine imports common
    assert ["vigor.gradnorm.common", "vigor.gradnorm.engine"] in import_cycles(import_graph(planted))
    tiny = {"vigor.a": ("def f():\n    from vigor.b import g\n", False),
            "vigor.b": ("from vigor import c\n", False), "vigor.c": ("import vigor.a\n", False)}
    assert import_cycles(import_graph(tiny)) == [["vigor.a", "vigor.b", "vigor.c"]]
    assert import_cycles(import_graph({**tiny, "vigor.c": ("x = 1\n", False)})) == []


def test_importing_the_data_layer_loads_no_higher_layer():
    code = ("import sys, vigor.data, vigor.data.answers, vigor.data.formats, vigor.data.loading\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('vigor.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = out.stdout.split()
    assert "vigor.data.formats" in loaded
    higher = [m for m in loaded if layer_of(m) > LAYERS["data"]]
    assert not higher, f"importing vigor.data loaded {higher}"
