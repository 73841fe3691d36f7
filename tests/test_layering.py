"""The package's layering is one-way: a module imports only modules of its own layer or lower ones.

    cli  ->  demo / analysis / training / compare  ->  rewards  ->  evaluation  ->  gradnorm / sandbox
         ->  data / models (and the leaves errors, tiny, precision)

Checked statically over every `import` in src/vigor (function-local imports included), and dynamically for
the data layer (importing it must not pull in the evaluation layer).
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


def vigor_imports(source: str, importer: str, *, is_package: bool = False):
    """(line, imported module) for every import of a vigor module in `source`, at any depth."""
    package = importer if is_package else importer.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
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


def test_importing_the_data_layer_loads_no_higher_layer():
    code = ("import sys, vigor.data, vigor.data.answers, vigor.data.formats, vigor.data.loading\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('vigor.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = out.stdout.split()
    assert "vigor.data.formats" in loaded
    higher = [m for m in loaded if layer_of(m) > LAYERS["data"]]
    assert not higher, f"importing vigor.data loaded {higher}"
