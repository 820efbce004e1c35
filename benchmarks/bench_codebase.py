"""The codebase as a newcomer meets it: issue 34's table, counted from a checkout's files.

Each figure is counted by a rule printed beside it (no timing, so no floor): README lines and
the Python blocks and command-line lines a test runs, the places a job parameter's bounds are
written, the shapes of progress records, the longest function and the files over 300 lines in
catdog_core/ui/pages, and the five tests that could not fail. With --vs, another checkout's
figures side by side (e.g. `git archive main | tar -x -C /tmp/catdog-main`).

    python benchmarks/bench_codebase.py [--repo .] [--vs /tmp/catdog-main] [--details]
"""

from __future__ import annotations

import argparse
import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

CENTRE = ("catdog_core", "ui", "pages")
# JobSpec's fields that have bounds (numbers, lengths): where any of them is checked or clamped.
PARAMS = {"epochs", "learning_rate", "fine_tune_epochs", "fine_tune_at", "min_steps", "exclude", "sizes",
          "variants"}
ORDER = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
PROGRESS_SUFFIXES = ("Report", "Point", "State", "Status", "Estimate")
# Where a job's progress is made and carried (a progress module, once there is one, too), in the
# flat layout of before and the packages of now, so that --vs counts both alike.
PROGRESS_HOMES = ("catdog_core/jobs/", "catdog_core/jobspec.py", "catdog_core/training",
                  "catdog_core/learningcurve.py", "catdog_core/lessons/learningcurve.py", "catdog_core/progress.py")


@dataclass
class Figure:
    name: str
    value: str
    rule: str
    details: list[str] = field(default_factory=list)


def centre_files(repo: Path) -> list[Path]:
    return sorted(p for part in CENTRE if (repo / part).is_dir() for p in (repo / part).rglob("*.py"))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def fenced(text: str, language: str) -> list[str]:
    """The ```language blocks of a Markdown text."""
    blocks, current, kind = [], None, ""
    for line in text.splitlines():
        if current is None and line.startswith("```"):
            current, kind = [], line[3:].strip()
        elif current is not None and line.strip() == "```":
            if kind == language:
                blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def readme_figures(repo: Path) -> list[Figure]:
    readme = (repo / "README.md").read_text(encoding="utf-8")
    docs = [readme] + [p.read_text(encoding="utf-8") for p in sorted((repo / "docs").rglob("*.md"))]
    blocks = sum(len(fenced(text, "python")) for text in docs)
    tests = [p.read_text(encoding="utf-8") for p in sorted((repo / "tests").rglob("test_*.py"))]
    runs_blocks = any("README.md" in t and ', "python")' in t for t in tests)
    cli = re.search(r"^## The command line\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    lines = [ln for b in fenced(cli.group(1), "bash") for ln in b.splitlines() if ln.strip()] if cli else []
    runs_cli = any("README.md" in t and "The command line" in t and "subprocess" in t for t in tests)
    return [
        Figure("README lines / python blocks run by a test",
               f"{len(readme.splitlines())} / {blocks if runs_blocks else 0} of {blocks}",
               "lines of README.md; ```python blocks of README.md and docs/*.md, counted as run when a "
               "test file opens README.md and passes \"python\" to a fence parser"),
        Figure("README command-line lines run by a test", f"{len(lines) if runs_cli else 0} of {len(lines)}",
               "shell lines of the '## The command line' section's ```bash blocks, run when a test file "
               "opens README.md, names that section and starts processes"),
    ]


def _param(node: ast.AST) -> str | None:
    """The job parameter an expression is: `epochs`, `spec.epochs`, `args.fine_tune_at`,
    `spec.get("variants", 0)`, `spec["epochs"]`, or the length of one (`len(spec.exclude)`)."""
    if isinstance(node, ast.Name) and node.id in PARAMS:
        return node.id
    if isinstance(node, ast.Attribute) and node.attr in PARAMS:
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value in PARAMS:
        return node.slice.value
    if isinstance(node, ast.Call) and node.args:
        first = node.args[0]
        if _callee(node) == "get" and isinstance(first, ast.Constant) and first.value in PARAMS:
            return first.value
        if _callee(node) in ("len", "int", "float"):
            return _param(first)
    return None


def _is_bound(node: ast.AST, zero: bool = False) -> bool:
    """A number (0 only in a range: `> 0` asks whether a setting is used), or a constant's name (MAX_EPOCHS)."""
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and (zero or node.value != 0)
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return bool(name) and name.isupper()


def _bounded(node: ast.AST, named: str | None) -> str | None:
    """The parameter this node bounds, if it does: an ordering comparison of a parameter (inside a
    function that checks one: anything) with a bound; a widget or checker given a parameter (its
    key, or the value it checks) and two bounds (a range)."""
    if isinstance(node, ast.Compare) and all(isinstance(op, ORDER) for op in node.ops):
        sides = [node.left, *node.comparators]
        if any(_is_bound(side) for side in sides):
            return next((_param(side) for side in sides if _param(side)), None) or named
    if isinstance(node, ast.Call):
        values = [*node.args, *(k.value for k in node.keywords if k.arg != "key")]
        key = next((k.value.value for k in node.keywords if k.arg == "key" and isinstance(k.value, ast.Constant)
                    and k.value.value in PARAMS), None)
        param = key or next((_param(v) for v in values if _param(v)), None)
        bounds = sum(_is_bound(v, zero=True) for v in values)
        if param and bounds >= 2:
            return param
    return None


def _checker_of(name: str) -> str | None:
    """The parameter a function checks by its name: _variants, _exclude_list, _checked_sizes."""
    match = re.fullmatch(r"_?(?:checked_)?([a-z_]+?)(?:_list)?", name)
    return match.group(1) if match and match.group(1) in PARAMS else None


def bound_places(repo: Path) -> Figure:
    """Where a job parameter meets a bound, file by file."""
    hits: dict[str, set[str]] = {}
    for path in centre_files(repo):
        rel = str(path.relative_to(repo))
        tree = parsed(path)
        functions = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        scopes = [(tree, None)] + [(f, _checker_of(f.name)) for f in functions]
        for scope, named in scopes:
            for node in ast.walk(scope):
                param = _bounded(node, named)
                if param:
                    hits.setdefault(rel, set()).add(f"{param} (line {node.lineno})")
    details = [f"{rel}: {', '.join(sorted(params))}" for rel, params in sorted(hits.items())]
    return Figure("places a job parameter's bounds are written", str(len(hits)),
                  "files of catdog_core/ui/pages where a JobSpec field with bounds (" + ", ".join(sorted(PARAMS))
                  + ") is ordered (<, <=, >, >=) against a non-zero number or an UPPER_CASE constant, or is "
                  "given with two of them to a call (a widget's min and max, by its key; a checker's range); "
                  "inside a function named for a field (_variants, _exclude_list), any such comparison counts. "
                  "Clamps (max(0, x)) and `> 0` (is it set?) do not", details)


def _callee(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")


def progress_shapes(repo: Path) -> Figure:
    classes, signatures = set(), set()
    for path in sorted((repo / "catdog_core").rglob("*.py")):
        rel = str(path.relative_to(repo))
        carries = rel.startswith(PROGRESS_HOMES)
        for node in ast.walk(parsed(path)):
            if carries and isinstance(node, ast.ClassDef) and node.name.endswith(PROGRESS_SUFFIXES):
                classes.add(f"class {node.name} ({rel})")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                names = tuple(a.arg for a in node.args.args if a.arg not in ("self", "cls"))
                if {"done", "total"} <= set(names):
                    signatures.add("callback (" + ", ".join(names) + ")")
    details = sorted(classes) + sorted(signatures)
    modules = sorted({c.rsplit("(", 1)[1].rstrip(")") for c in classes})
    return Figure("shapes of progress records", f"{len(details)}, the records in {len(modules)} module" + "s" * (len(modules) != 1),
                  "classes named *" + ", *".join(PROGRESS_SUFFIXES) + " in " + ", ".join(PROGRESS_HOMES)
                  + ", plus each distinct "
                  "parameter list of a function or lambda taking `done` and `total` (a progress callback)", details)


def longest_function(repo: Path) -> Figure:
    lengths = []
    for path in centre_files(repo):
        for node in ast.walk(parsed(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lengths.append((node.end_lineno - node.lineno + 1, f"{path.relative_to(repo)}:{node.name}"))
    lengths.sort(reverse=True)
    size, where = lengths[0]
    return Figure("longest function in catdog_core, ui, pages", f"{size} lines ({where.split(':')[-1]})",
                  "def line to last line of a function or method (nested ones included in it), decorators "
                  "excluded", [f"{n} {w}" for n, w in lengths[:8]])


def long_files(repo: Path) -> Figure:
    big = [(len(p.read_text(encoding="utf-8").splitlines()), str(p.relative_to(repo))) for p in centre_files(repo)]
    big = sorted((n, p) for n, p in big if n > 300)[::-1]
    return Figure("files over 300 lines in catdog_core, ui, pages", str(len(big)), "lines of each .py file > 300",
                  [f"{n} {p}" for n, p in big])


def _function_with(path: Path, predicate) -> ast.FunctionDef | None:
    if not path.is_file():
        return None
    return next((n for n in ast.walk(parsed(path)) if isinstance(n, ast.FunctionDef) and n.name.startswith("test")
                 and predicate(n)), None)


def _dots_upload_is_weak(tests: Path) -> bool:
    """The test that uploads a file named '..' asserts no more than `not at.exception`."""
    def uploads_dots(func):  # its body (not its parameters' decorator) names ".." and uploads to the page
        body = [n for stmt in func.body for n in ast.walk(stmt)]
        return (any(isinstance(n, ast.Constant) and n.value == ".." for n in body)
                and any(isinstance(n, ast.Call) and _callee(n) in ("file_uploader", "_upload") for n in body))

    func = _function_with(next(iter(sorted(tests.rglob("test_upload_corpus.py"))), tests), uploads_dots)
    if func is None:
        return False
    asserts = [ast.unparse(n.test) for n in ast.walk(func) if isinstance(n, ast.Assert)]
    helpers = {_callee(n) for n in ast.walk(func) if isinstance(n, ast.Call)}
    return all(a.startswith("not at.exception") for a in asserts) and "_check_card" not in helpers


def weak_tests(repo: Path) -> Figure:
    tests = repo / "tests"

    def find(name: str) -> Path:  # tests/ was flat, then unit/, pages/ and system/
        return next(iter(sorted(tests.rglob(name))), tests / name)

    def text(name: str) -> str:
        path = find(name)
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    checks = {
        "test_upload_corpus.py: the '..' upload asserts only that nothing raised": _dots_upload_is_weak(tests),
        "test_offline.py: any info, error or warning passes": "at.info or at.error or at.warning" in
        text("test_offline.py"),
        "test_learningcurve.py: `or all(p.cached ...)` passes on a warm cache": "or all(p.cached" in
        text("test_learningcurve.py"),
        "test_layering.py: cycles of two modules only": "strongly connected" not in text("test_layering.py"),
        "test_images.py: tests the legacy aliases load_image / to_model_input": bool(
            re.search(r"\b(load_image|to_model_input)\b", text("test_images.py"))),
    }
    return Figure("tests that cannot fail (the five of issue 34)", str(sum(checks.values())),
                  "each of the five named by a pattern of its weakness (see --details)",
                  [f"{'WEAK' if weak else 'fixed'}: {name}" for name, weak in checks.items()])


def figures(repo: Path) -> list[Figure]:
    return [*readme_figures(repo), bound_places(repo), progress_shapes(repo), longest_function(repo),
            long_files(repo), weak_tests(repo),
            Figure("clean-clone `bash .ci/run`", "measured by the lead", "wall time of CI from a fresh clone")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--vs", type=Path, default=None, help="another checkout, shown as 'before'")
    p.add_argument("--details", action="store_true", help="also print what each figure counted")
    args = p.parse_args()
    now = figures(args.repo)
    before = figures(args.vs) if args.vs else None
    header = ["figure", *(["before"] if before else []), "now"]
    print("| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
    for i, fig in enumerate(now):
        cells = [fig.name, *([before[i].value] if before else []), fig.value]
        print("| " + " | ".join(cells) + " |")
    print("\nRules:")
    for fig in now:
        print(f"- {fig.name}: {fig.rule}")
    if args.details:
        for label, figs in (("before", before), ("now", now)):
            if figs is None:
                continue
            print(f"\nDetails, {label}:")
            for fig in figs:
                if fig.details:
                    print(f"  {fig.name}:")
                    print("\n".join(f"    {d}" for d in fig.details))


if __name__ == "__main__":
    main()
