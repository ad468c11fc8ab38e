"""The run's results: one table on the terminal (and as Markdown, for the README), the same
as JSON, and a plot of the latency distributions (PNG, matplotlib's Agg backend).

Every row shows crmflow beside bare and beside the floor (``bench.floor``), each ratio and
its goal (column ``failed``: crmflow / bare / floor); the machine they ran on heads
the table, since absolute numbers only mean something there (performance.md).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

from bench.load import percentile
from bench.outcomes import Distribution, Outcome, Row
from crmflow.dev_stack import temporal_binary


def machine() -> dict[str, Any]:
    """What the numbers were measured on; the load average hints at other work running."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cli = subprocess.run([temporal_binary(), "--version"], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "temporal_cli": cli.removeprefix("temporal version "),
        "temporalio": version("temporalio"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


@dataclass
class Report:
    loads: str
    started_at: datetime
    seconds: float
    machine: dict[str, Any]
    outcome: Outcome
    skipped: list[str]

    def rows(self) -> list[Row]:
        """By measure (by its number), each on every database in turn."""
        first: dict[str, int] = {}
        for n, row in enumerate(self.outcome.rows):
            first.setdefault(row.measure, n)
        databases = ["sqlite", "postgresql"]
        return sorted(self.outcome.rows, key=lambda r: (
            int(r.measure.split(" ", 1)[0]), first[r.measure],
            databases.index(r.database) if r.database in databases else 9))

    def to_json(self) -> dict[str, Any]:
        return {
            "loads": self.loads,
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 1),
            "machine": self.machine,
            "skipped": self.skipped,
            "rows": [_row_json(r) for r in self.rows()],
            "distributions": [_distribution_json(d) for d in self.outcome.distributions],
        }


def _number(value: float | None, digits: int = 6) -> float | None:
    """The figure to ``digits`` significant digits: rounding to decimal places lost a small
    figure's precision (a bare 0.0115 s kept as 0.012), so its ratio no longer matched."""
    return None if value is None or math.isnan(value) else float(f"{value:.{digits}g}")


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "measure": row.measure, "database": row.database, "unit": row.unit,
        "crmflow": _number(row.crmflow), "bare": _number(row.bare),
        "ratio": _number(row.ratio), "goal": row.goal.describe() if row.goal else None,
        "met": row.met, "detail": row.detail,
        "floor": _number(row.floor), "floor_ratio": _number(row.floor_ratio),
        "floor_goal": row.floor_goal.describe() if row.floor_goal else None,
        "floor_met": row.floor_met,
        "failures": {"crmflow": row.failures[0], "bare": row.failures[1],
                     "floor": row.floor_failures},
    }


def _distribution_json(d: Distribution) -> dict[str, Any]:
    summary: dict[str, Any] = {"measure": d.measure, "database": d.database, "side": d.side,
                               "series": d.series, "count": len(d.seconds)}
    for p in (50, 90, 99, 100):
        summary[f"p{p}_ms"] = _number(percentile(d.seconds, p) * 1000, 4)
    return summary


def _figure(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 \
        else f"{value:.2f}"
    return f"{text} {unit}".strip()


def _met(met: bool | None, goal: object) -> str:
    return {True: "yes", False: "NO", None: "-" if goal is None else "?"}[met]


HEADERS = ("measure", "db", "crmflow", "bare", "ratio", "goal", "met", "floor",
           "/floor", "floor goal", "met", "failed")


def _cells(row: Row) -> tuple[str, ...]:
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
    floor_ratio = "-" if row.floor_ratio is None else f"{row.floor_ratio:.2f}x"
    failed = "" if row.failures == (0, 0) and not row.floor_failures else \
        f"{row.failures[0]} / {row.failures[1]} / {row.floor_failures}"
    return (row.measure, row.database, _figure(row.crmflow, row.unit),
            _figure(row.bare, row.unit), ratio, row.goal.describe() if row.goal else "",
            _met(row.met, row.goal), _figure(row.floor, row.unit), floor_ratio,
            row.floor_goal.describe() if row.floor_goal else "",
            _met(row.floor_met, row.floor_goal), failed)


def _machine_line(info: dict[str, Any]) -> str:
    return (f"{info['cores']} cores, {info['ram_gib']} GiB, {info['cpu']}; Python "
            f"{info['python']}, temporal CLI {info['temporal_cli']}, temporalio "
            f"{info['temporalio']}; load average at start {info['load_average_at_start']}"
            + (f"; crmflow API processes: {info['api_processes']}" if "api_processes" in info
               else ""))


def table(report: Report) -> str:
    """The plain-text table, with each row's detail below it."""
    rows = [_cells(r) for r in report.rows()]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)] \
        if rows else [len(h) for h in HEADERS]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [f"crmflow benchmark ({report.loads} loads, {report.seconds:.0f} s) — "
           f"{_machine_line(report.machine)}", "",
           line.format(*HEADERS), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    out += ["", "details:"]
    out += [f"  {r.measure} [{r.database}]: {r.detail}" for r in report.rows() if r.detail]
    out += [f"  skipped: {s}" for s in report.skipped]
    return "\n".join(out)


def markdown(report: Report) -> str:
    lines = [f"Measured {report.started_at:%Y-%m-%d} ({report.loads} loads) on "
             f"{_machine_line(report.machine)}.", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in report.rows()]
    return "\n".join(lines) + "\n"


def plot(distributions: list[Distribution], path: Path) -> None:
    """One panel per latency measure: the distribution (CDF) of each side on each database."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    panels: dict[str, list[Distribution]] = defaultdict(list)
    for d in distributions:
        if d.seconds:
            panels[d.measure].append(d)
    columns = 3
    rows = max(1, math.ceil(len(panels) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (title, group) in zip(axes.flat, sorted(panels.items()), strict=False):
        # One colour per series (crmflow red, bare blue), one line style per database.
        names = list(dict.fromkeys(d.series or d.side for d in group))
        palette = {"crmflow": "tab:red", "bare": "tab:blue"}
        for d in group:
            values = sorted(s * 1000 for s in d.seconds)
            fractions = [(i + 1) / len(values) for i in range(len(values))]
            name = d.series or d.side
            ax.step(values, fractions, where="post", label=f"{name} {d.database}",
                    linestyle="-" if d.database == "sqlite" else "--",
                    color=palette.get(name, f"C{names.index(name)}"))
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("latency (ms, log)")
        ax.set_ylabel("fraction at or below")
        ax.axhline(0.99, color="grey", linewidth=0.5)
        ax.set_title(title)
        ax.legend(fontsize="small")
        ax.grid(True, which="both", alpha=0.3)
    figure.suptitle("crmflow vs bare Temporal: latency distributions (0.99 line: p99)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write(report: Report, folder: Path) -> list[Path]:
    """latest.json, latest.md and latest.png in the folder; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "latest.json", folder / "latest.md", folder / "latest.png"]
    paths[0].write_text(json.dumps(report.to_json(), indent=2) + "\n")
    paths[1].write_text(markdown(report))
    plot(report.outcome.distributions, paths[2])
    return paths


def now() -> datetime:
    return datetime.now(UTC)
