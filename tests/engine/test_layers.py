"""The floors import only downwards: the engine loads neither the framework nor the application,
the framework (nn) not the application, and no import cycle exists outside the engine's own
tensor <-> autograd <-> ops knot."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import tinygrad_rnn

PACKAGE = Path(tinygrad_rnn.__file__).parent
FRAMEWORK = ("nn", "optim")
APPLICATION = ("charrnn", "training", "checkpoint", "data")
ENGINE_KNOT = {"tinygrad_rnn.tensor", "tinygrad_rnn.autograd", "tinygrad_rnn.ops"}


def loaded_after(statement):
    """The tinygrad_rnn modules a fresh interpreter has loaded after running `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=PACKAGE.parent)
    return [m for m in json.loads(done.stdout) if m.startswith("tinygrad_rnn.")]


def under(modules, floors):
    return [m for m in modules if m.split(".")[1] in floors]


def test_importing_the_engine_loads_neither_framework_nor_application():
    modules = loaded_after("import tinygrad_rnn")
    assert "tinygrad_rnn.tensor" in modules  # the probe sees the package's modules
    assert under(modules, FRAMEWORK + APPLICATION) == []


def test_importing_the_framework_loads_no_application():
    modules = loaded_after("import tinygrad_rnn.nn")
    assert "tinygrad_rnn.nn.module" in modules
    assert under(modules, APPLICATION) == []


def module_of(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name):
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports_of(path):
    """The tinygrad_rnn modules a file imports, at its top or inside functions."""
    name = module_of(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tinygrad_rnn"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "tinygrad_rnn":
                continue
            for a in node.names:  # `from . import anomaly` imports the module anomaly
                found.add(f"{source}.{a.name}" if is_module(f"{source}.{a.name}") else source)
    found.discard(name)
    return found


def knot(name):
    """The engine's own cycle: ops.* count as ops."""
    return "tinygrad_rnn.ops" if name.startswith("tinygrad_rnn.ops.") else name


def import_graph():
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        graph.setdefault(knot(module_of(path)), set()).update(knot(m) for m in imports_of(path))
    return graph


def cycles(graph):
    """Pairs of modules that import each other, directly or through others."""
    def reachable(start):
        seen, stack = set(), [start]
        while stack:
            for nxt in graph.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    reach = {m: reachable(m) for m in graph}
    return {tuple(sorted((a, b))) for a in graph for b in reach[a] if b != a and a in reach.get(b, ())}


def test_no_import_cycle_outside_the_engine_knot():
    found = sorted(pair for pair in cycles(import_graph()) if not set(pair) <= ENGINE_KNOT)
    assert found == [], f"import cycles (each pair imports the other, perhaps indirectly): {found}"


def test_the_cycle_check_sees_the_engine_knot():
    """Not vacuous: it finds the one cycle that is allowed, tensor -> ops -> autograd -> tensor."""
    graph = import_graph()
    assert "tinygrad_rnn.ops" in graph["tinygrad_rnn.tensor"]
    assert "tinygrad_rnn.autograd" in graph["tinygrad_rnn.ops"]
    assert "tinygrad_rnn.tensor" in graph["tinygrad_rnn.autograd"]
    assert ("tinygrad_rnn.autograd", "tinygrad_rnn.tensor") in cycles(graph)
