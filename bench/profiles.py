"""What the ``--profile`` recordings say, in words: where each process spent its samples.

py-spy records the API and the worker during crmflow's side of each measure (speedscope
files, ``bench.stack.Stack.profiled``). This reads them back and writes ``summary.md`` beside
them: for each recording, the share of samples by **area** (the library the sampled frame is
in: the ORM, pydantic, the web framework, the Temporal SDK, the event loop, crmflow's own
code…) and the crmflow functions on the most sampled stacks (inclusive: a handler counts
the ORM work it asked for). A goal the table does not meet is explained here.

    .venv/bin/python -m bench.profiles /tmp/bench/profiles     # again, for a folder
"""

from __future__ import annotations

import functools
import json
import linecache
import sys
from collections import Counter
from pathlib import Path

AREAS = (
    ("SQLite driver", ("aiosqlite", "sqlite3")),
    ("asyncpg driver", ("asyncpg",)),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("pydantic", ("pydantic",)),
    ("Temporal SDK", ("temporalio",)),
    ("web framework", ("fastapi", "starlette", "uvicorn", "h11", "httptools", "anyio")),
    ("logging", ("structlog", "logging", "prometheus_client")),
    ("templates and email", ("jinja2", "markupsafe", "aiosmtplib", "email")),
    ("event loop", ("asyncio", "uvloop", "selectors", "threading", "concurrent")),
)
OWN = ("api/", "crm/", "workflows/", "activities/", "worker/", "crmflow/")


WAITING = ("tx.get(", ".poll(", ".select(", ".wait(", ".acquire(", "sleep(")
"""Source of a sampled line that blocks: py-spy does not always tell such a thread idle
(aiosqlite's threads waiting for their next statement, the event loop waiting for I/O)."""


@functools.cache
def _line(path: str, number: int) -> str:
    try:
        return linecache.getline(path, number)
    except (OSError, UnicodeDecodeError):
        return ""


def waiting(frame: dict[str, object]) -> bool:
    line = frame.get("line")
    source = _line(str(frame.get("file", "")), line) if isinstance(line, int) else ""
    return any(marker in source for marker in WAITING)


def area_of(path: str) -> str:
    if "site-packages" not in path and "/lib/python" not in path:
        return "crmflow" if any(part in path for part in OWN) else "other"
    for area, markers in AREAS:
        if any(f"/{marker}" in path for marker in markers):
            return area
    return "other libraries"


def own_function(frame: dict[str, object]) -> str | None:
    path = str(frame.get("file", ""))
    if "site-packages" in path or "/lib/python" in path:
        return None
    for part in OWN:
        at = path.find(part)
        if at >= 0:
            return f"{path[at:]}:{frame.get('name')}"
    return None


def summarize(path: Path, top: int = 8) -> str:
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    areas: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = idle = 0.0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            leaf = frames[stack[-1]]
            if waiting(leaf):
                idle += weight
                continue
            total += weight
            areas[area_of(str(leaf.get("file", "")))] += weight
            for name in {n for n in (own_function(frames[i]) for i in stack) if n}:
                own[name] += weight
    name = path.name.removesuffix(".speedscope.json")
    if not total:
        return f"### {name}\n\nno busy samples\n"
    lines = [f"### {name}", "",
             f"{total:.1f} s busy ({idle:.1f} s more waiting, not counted). By area (the "
             f"sampled frame's library): " + ", ".join(
                 f"{area} {count / total:.0%}" for area, count in areas.most_common()
                 if count / total >= 0.01) + ".", "",
             "crmflow functions on the sampled stacks (inclusive):", ""]
    lines += [f"- `{name}` {count / total:.0%}" for name, count in own.most_common(top)]
    return "\n".join(lines) + "\n"


def write_summary(folder: Path) -> Path | None:
    recordings = sorted(folder.glob("*.speedscope.json"))
    if not recordings:
        return None
    out = folder / "summary.md"
    out.write_text("# Where the time went\n\n" + "\n".join(summarize(p) for p in recordings))
    return out


if __name__ == "__main__":
    written = write_summary(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/profiles"))
    print(written or "no recordings there")
