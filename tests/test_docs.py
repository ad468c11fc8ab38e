"""The docs name only what exists: README.md stays short, and every repository path and
Python name the README and the site (``docs/``) put in backticks is found in the code.

Names are resolved by reading the sources with ``ast``, never by importing them.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = (README, *sorted((ROOT / "docs").rglob("*.md")))

PACKAGES = ("api", "crm", "workflows", "activities", "worker", "crmflow", "tests")
EXTENSIONS = (".py", ".sh", ".md", ".yml", ".yaml", ".toml", ".json", ".j2", ".ini", ".cfg",
              ".txt", ".mako", ".tsv", ".lock")
TOP_DIRECTORIES = tuple(p.name for p in ROOT.iterdir() if p.is_dir() and p.name != ".git")
GENERATED = (".crmflow/", ".venv/", ".artifacts/", "bench/results/", "site/", "profiles/")
"""Folders the stack, the tests and the bench make as they run: named, never committed."""
REMOVED = ("workflows/legacy/",)
"""What the decision records (``docs/decisions/``) name as history: gone from the code."""

FENCE = re.compile(r"^ *(```|~~~).*?^ *\1", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"[\w.-]+(/[\w.-]+)*/?")
DOTTED = re.compile(rf"(?:{'|'.join(PACKAGES)})(?:\.\w+)+")


def spans(text: str) -> list[str]:
    """Every inline code span outside fenced blocks."""
    return [span.strip() for span in CODE.findall(FENCE.sub("", text))]


def looks_like_path(span: str) -> bool:
    if not PATH.fullmatch(span) or (span.startswith(".") and "/" not in span):
        return False
    if DOTTED.fullmatch(span):
        return False
    if span.endswith(EXTENSIONS):
        return True
    return "/" in span and (span.endswith("/") or span.split("/")[0] in TOP_DIRECTORIES)


def missing_path(span: str, root: Path = ROOT) -> bool:
    if span.startswith(GENERATED):
        return False
    return not (root / span.rstrip("/")).exists()


def dotted_name(span: str) -> str | None:
    """The dotted name in a span such as ``workflows.steps.Timeline`` or
    ``crm.launcher.launch(...)``; None when it names none of crmflow's packages."""
    name = re.sub(r"\(.*\)$", "", span)
    return name if DOTTED.fullmatch(name) else None


@cache
def _tree(source: Path) -> ast.Module:
    return ast.parse(source.read_text(encoding="utf-8"), filename=str(source))


def _names(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """The names a module or class body defines: classes, functions and assignments
    (also inside top-level ``if`` and ``try`` blocks)."""
    found: dict[str, ast.stmt] = {}
    for statement in body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found[statement.name] = statement
        elif isinstance(statement, ast.Assign):
            for target in statement.targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        found[node.id] = statement
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            found[statement.target.id] = statement
        elif isinstance(statement, ast.If | ast.Try):
            nested = [*statement.body, *statement.orelse]
            if isinstance(statement, ast.Try):
                nested += [*statement.finalbody, *(s for h in statement.handlers for s in h.body)]
            found.update(_names(nested))
    return found


def _module_file(parts: list[str], root: Path) -> Path | None:
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def unresolved(name: str, root: Path = ROOT) -> str | None:
    """Why a dotted name does not resolve, or None when it does: the longest prefix that is
    a module or package, then a top-level name in it, then at most one attribute of a class."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        source = _module_file(parts[:cut], root)
        if source is not None:
            break
    else:
        return f"no module {parts[0]}"
    rest = parts[cut:]
    if not rest:
        return None
    where = ".".join(parts[:cut])
    defined = _names(_tree(source).body)
    if rest[0] not in defined:
        return f"{where} defines no {rest[0]}"
    if len(rest) == 1:
        return None
    owner = defined[rest[0]]
    if len(rest) > 2 or not isinstance(owner, ast.ClassDef):
        return f"{where}.{rest[0]} is not a class with an attribute {'.'.join(rest[1:])}"
    if rest[1] not in _names(owner.body):
        return f"{where}.{rest[0]} has no attribute {rest[1]}"
    return None


def bad_references(text: str, root: Path = ROOT, *, history: bool = False) -> list[str]:
    """The spans naming what the code does not have; ``history``: a decision record, which
    may name what was removed (``REMOVED``)."""
    bad = []
    for span in spans(text):
        if (name := dotted_name(span)) is not None:
            if (why := unresolved(name, root)) is not None:
                bad.append(f"`{span}`: {why}")
        elif history and span.startswith(REMOVED):
            continue
        elif looks_like_path(span) and missing_path(span, root):
            bad.append(f"`{span}`: no such file or folder")
    return bad


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines: move detail into docs/"


def test_every_page_is_found() -> None:
    assert len(PAGES) > 10
    assert (ROOT / "mkdocs.yml").is_file()


def test_every_backticked_path_and_name_exists() -> None:
    bad = {
        page.relative_to(ROOT).as_posix(): found
        for page in PAGES
        if (found := bad_references(page.read_text(encoding="utf-8"),
                                    history=page.parent.name == "decisions"))
    }
    assert not bad, "the docs name what the code does not have:\n" + "\n".join(
        f"{page}: {line}" for page, lines in bad.items() for line in lines
    )


def test_the_checks_catch_a_bad_reference() -> None:
    text = (
        "Good: `workflows/steps.py`, `deploy/temporal/`, `workflows.steps.Timeline`,\n"
        "`workflows.steps.Timeline.wait_for`, `crm.launcher.launch(...)`, `workflows.patches`,\n"
        "`.crmflow/mail/`, `GET /leads/{id}`, `CRMFLOW_API_PROCESSES`.\n"
        "```sh\ncat `workflows/nowhere.py`\n```\n"
        "Bad: `workflows/nowhere.py`, `deploy/nowhere/`, `workflows.steps.Nowhere`,\n"
        "`workflows.steps.Timeline.nowhere`, `workflows.nowhere.thing`, `crm.launcher.launch.x`.\n"
    )
    assert bad_references(text) == [
        "`workflows/nowhere.py`: no such file or folder",
        "`deploy/nowhere/`: no such file or folder",
        "`workflows.steps.Nowhere`: workflows.steps defines no Nowhere",
        "`workflows.steps.Timeline.nowhere`: workflows.steps.Timeline has no attribute nowhere",
        "`workflows.nowhere.thing`: workflows defines no nowhere",
        "`crm.launcher.launch.x`: crm.launcher.launch is not a class with an attribute x",
    ]
    removed = "`workflows/legacy/` is gone."
    assert bad_references(removed, history=True) == []
    assert bad_references(removed) == ["`workflows/legacy/`: no such file or folder"]


def test_the_configuration_page_lists_every_setting() -> None:
    settings = next(node for node in _tree(ROOT / "crm" / "settings.py").body
                    if isinstance(node, ast.ClassDef) and node.name == "Settings")
    fields = [node.target.id for node in settings.body
              if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
              and node.target.id != "model_config"]
    page = set(spans((ROOT / "docs" / "reference" / "configuration.md").read_text()))
    assert len(fields) > 30
    assert [f for f in fields if f"CRMFLOW_{f.upper()}" not in page] == []


def test_the_cli_page_has_every_subcommand() -> None:
    commands = {node.args[0].value for node in ast.walk(_tree(ROOT / "crmflow" / "cli.py"))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_parser" and node.args
                and isinstance(node.args[0], ast.Constant)}
    text = (ROOT / "docs" / "reference" / "cli.md").read_text()
    named = " ".join([*spans(text), *re.findall(r"^#+ (.*)$", text, re.MULTILINE)])
    assert {"dev", "worker", "api", "migrate", "repair", "versions"} <= commands
    assert sorted(c for c in commands if not re.search(rf"\b{c}\b", named)) == []
