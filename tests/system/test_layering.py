"""The library never imports Streamlit: pages depend on catdog_core, never the other way."""

from __future__ import annotations

import json
import re
import subprocess
import sys


from conftest import REPO

MODULES = ["config", "errors", "dataset", "augment", "models", "training", "runs", "jobs", "predict",
           "charts", "images", "__main__"]
PACKAGE = REPO / "catdog_core"


def test_importing_every_module_does_not_import_streamlit():
    # The named modules, plus any module added to the package since.
    names = sorted(set(MODULES) | {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"})
    code = (
        "import importlib, json, sys\n"
        "import catdog_core\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module('catdog_core.' + name)\n"
        "print(json.dumps({'streamlit': sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'),\n"
        "                  'modules': sorted(m for m in sys.modules if m.startswith('catdog_core'))}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["streamlit"] == []
    assert {f"catdog_core.{name}" for name in names} <= set(found["modules"])


def test_no_file_in_the_library_imports_streamlit():
    pattern = re.compile(r"^\s*(import\s+streamlit\b|from\s+streamlit\b)", re.MULTILINE)
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= len(MODULES)
    offenders = [str(f.relative_to(REPO)) for f in files if pattern.search(f.read_text(encoding="utf-8"))]
    assert offenders == []
    # The check itself works: it would catch both spellings.
    assert pattern.search("x = 1\nimport streamlit as st\n") and pattern.search("    from streamlit import session_state\n")


def test_no_file_patches_or_imports_a_private_streamlit_internal():
    """Pages and tests use Streamlit's documented API only: no streamlit.runtime internals, no
    `_`-prefixed names, nothing monkeypatched (a Streamlit upgrade would break it silently)."""
    private = re.compile(r"streamlit\.runtime|_clean_problem_modules|PagesManager|from streamlit\S* import _|"
                         r"streamlit(\.\w+)*\._\w+")
    files = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").rglob("*.py")),
             *sorted(PACKAGE.rglob("*.py")), *sorted((REPO / "tests").rglob("*.py"))]
    offenders = [str(f.relative_to(REPO)) for f in files
                 if f.name != "test_layering.py" and private.search(f.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_command_line_client_does_not_load_tensorflow():
    """`train`, `jobs` and `runs` only talk to the queue: the worker process does the training."""
    code = ("import sys\nfrom catdog_core import __main__, jobs, runs, training\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_the_web_pages_and_ui_import_no_tensorflow():
    """Everything pages/ and ui/ import (catdog_core's modules, the model service's client) leaves
    TensorFlow and Keras out of the Streamlit server; the browser test checks the live server too."""
    pattern = re.compile(r"^from catdog_core(?:\.(\w+))? import ([\w, ]+)", re.MULTILINE)
    modules = set()
    for path in [*sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py"))]:
        for package, names in pattern.findall(path.read_text(encoding="utf-8")):
            modules |= {f"catdog_core.{package}"} if package else {f"catdog_core.{n.strip()}" for n in names.split(",")}
    assert {"catdog_core.service", "catdog_core.dataset", "catdog_core.runs"} <= modules
    # Modules whose work is training or running models belong to workers and the model service; the
    # web tier asks for that work (jobs.curve_spec, the service's client), it never imports them.
    assert not modules & {"catdog_core.training", "catdog_core.lessons.learningcurve", "catdog_core.features"}, modules
    code = ("import importlib, sys\nimport ui\n"
            f"for name in {sorted(modules)!r}:\n    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def _imports_of(path) -> set[str]:
    """Every catdog_core module a file imports, at the top or inside a function."""
    import ast

    package = "catdog_core." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    if package.endswith(".__init__"):
        package = package[: -len(".__init__")] + ".x"  # relative imports start from the package itself
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: -node.level]
                base = ".".join(parent + ([base] if base else []))
            if base.startswith("catdog_core"):
                if node.module is None:  # `from .. import jobs`: every name is a module of that package
                    found |= {f"{base}.{a.name}" for a in node.names}
                    continue
                found |= {f"{base}.{a.name}" if (PACKAGE.parent / f"{base}.{a.name}".replace(".", "/")).with_suffix(
                    ".py").exists() or (PACKAGE.parent / f"{base}.{a.name}".replace(".", "/")).is_dir() else base
                          for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("catdog_core")}
    return found


def _module_name(path) -> str:
    return ("catdog_core." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def _module_graph() -> dict[str, set[str]]:
    """Each catdog_core module (a package: its __init__) -> the catdog_core modules it imports, at the
    top or inside a function. Importing `catdog_core.jobs.queue` runs `catdog_core.jobs` first, so a
    module outside a package that imports into it imports the package too."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name, edges = _module_name(path), set()
        for target in _imports_of(path):
            parts = target.split(".")
            edges |= {".".join(parts[:n]) for n in range(2, len(parts) + 1)}  # the target and its packages
        graph[name] = {t for t in edges if t != name and not name.startswith(t + ".")}
    return graph


def _package_graph() -> dict[str, set[str]]:
    """The same imports between catdog_core's parts: a top-level module, or a package with every
    module inside it (catdog_core.jobs holds jobs.queue, jobs.worker, ...)."""
    def part(module: str) -> str:
        return ".".join(module.split(".")[:2])

    graph: dict[str, set[str]] = {}
    for module, targets in _module_graph().items():
        graph.setdefault(part(module), set()).update(part(t) for t in targets)
    return {name: targets - {name, "catdog_core"} for name, targets in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of a graph, of any length: each strongly connected set of two or more
    nodes (Tarjan's algorithm, iterative), sorted."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root), on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph and (c not in index or c in on_stack)), None)
            if child is not None and child not in index:
                index[child] = low[child] = len(index)
                stack.append(child), on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
                continue
            if child is not None:
                low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while not members or members[-1] != node:
                    members.append(stack.pop())
                    on_stack.discard(members[-1])
                if len(members) > 1:
                    found.append(sorted(members))
    return sorted(found)


def test_the_cycle_finder_sees_cycles_of_any_length():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"a"}, "e": {"a"}}) == [["a", "b", "c", "d"]]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b"], ["c", "d"]]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    # Imports inside functions count, and a package counts as every module in it.
    graph = _module_graph()
    assert "catdog_core.training" in graph["catdog_core.jobs.run"]  # run_job's import inside the function
    assert "catdog_core.jobs" in graph["catdog_core.cli.commands"]  # cli imports jobs.worker inside a function, so jobs too


def test_no_import_cycle_between_modules_or_between_packages():
    """The kinds of job (training, learningcurve, augcheck, shortcut) read a job's spec and states from
    catdog_core.jobspec, below the jobs package that runs them: the jobs package calls them, and
    nothing of them imports it back."""
    assert _cycles(_module_graph()) == []
    assert _cycles(_package_graph()) == []
    assert "catdog_core.training" in _package_graph()["catdog_core.jobs"]  # the jobs package runs training


def test_only_the_jobs_package_knows_about_queues_and_ray():
    pattern = re.compile(r"^\s*(import ray\b|from ray\b|import sqlite3|.*\bQueue\(|.*\bray\.)", re.MULTILINE)
    files = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py")),
             *[p for p in sorted(PACKAGE.rglob("*.py")) if "jobs" not in p.relative_to(PACKAGE).parts]]
    offenders = [str(f.relative_to(REPO)) for f in files if pattern.search(f.read_text(encoding="utf-8"))]
    assert offenders == []
    assert pattern.search("    queue = Queue(home)\n") and pattern.search("import ray\n")


def test_every_import_inside_a_function_names_a_module_that_exists():
    """Lazy imports (TensorFlow stays out until needed) are only run when their function is: a
    wrong path after a module moved would fail in front of a user, so each is resolved here."""
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in _imports_of(path):
            target = PACKAGE.parent / name.replace(".", "/")
            if not (target.with_suffix(".py").exists() or (target / "__init__.py").exists()):
                missing.append(f"{path.relative_to(REPO)}: {name}")
    assert missing == []


def test_no_module_uses_another_modules_private_names():
    import ast

    offenders = []
    files = [*sorted(PACKAGE.rglob("*.py")), *sorted((REPO / "ui").glob("*.py")), *sorted((REPO / "pages").glob("*.py"))]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = set()  # names bound to catdog_core modules in this file
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("catdog_core")):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offenders.append(f"{path.relative_to(REPO)}: imports {alias.name}")
                    modules.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                offenders.append(f"{path.relative_to(REPO)}: {node.value.id}.{node.attr}")
    assert offenders == []


def test_every_module_imports_first_in_a_fresh_interpreter():
    """Whichever module a program imports first (training before jobs, say), no import cycle
    leaves another half-initialised."""
    names = sorted("catdog_core." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
                   for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")
    code = ("import importlib, subprocess, sys\n"
            f"for name in {names!r}:\n"
            "    done = subprocess.run([sys.executable, '-c', f'import {name}'], capture_output=True, text=True)\n"
            "    if done.returncode:\n"
            "        print(name, done.stderr.strip().splitlines()[-1])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr[-2000:]
    assert len(names) > 40
