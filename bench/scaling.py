"""The scaling curve: ``python -m bench.scaling`` — crmflow's starts and short processes
with 1 and 2 ``crmflow worker`` processes, 1 and 2 ``crmflow api`` processes, on one machine.

Each shape gets a stack of its own (``bench.stack.running_stack``) and runs measures 1
(starts) and 2 (the short process) as ``python -m bench`` does; the table gives crmflow's
rate, p99 and CPU per operation for each. ``--write PAGE`` puts the table into the page
between ``<!-- scaling:begin -->`` and ``<!-- scaling:end -->`` (the sizing page).

What it can show on this machine is bounded by its cores: every process of the stack —
Temporal, the database, the API and the workers, the bench's callers — shares them, so a
second process helps only as far as one process left a core idle.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path

from bench import report
from bench.__main__ import POSTGRES_SERVER, progress
from bench.loads import LOADS
from bench.measures import deals, starts
from bench.stack import running_stack

SHAPES = [(1, 1), (2, 1), (1, 2), (2, 2)]
"""(workers, API processes)."""
BLOCK = re.compile(r"(<!-- scaling:begin -->)(.*?)(<!-- scaling:end -->)", re.S)


async def shape(database: str, workers: int, apis: int, loads_name: str) -> dict[str, float]:
    loads = LOADS[loads_name]
    async with running_stack(database, postgres_server=POSTGRES_SERVER, api_processes=apis,
                             workers=workers) as stack:
        figures: dict[str, float] = {}
        for outcome in (await starts.measure(stack, loads), await deals.measure(stack, loads)):
            for row in outcome.rows:
                figures[row.measure.split(": ", 1)[1]] = row.crmflow or 0.0
                if row.failures[0]:
                    figures["failed"] = figures.get("failed", 0) + row.failures[0]
        return figures


COLUMNS = [("rate", "starts/s"), ("p99", "start p99 ms"), ("CPU per start", "CPU/start ms"),
           ("completions", "short processes/s"), ("CPU per process", "CPU/process ms")]


def table(results: dict[tuple[str, int, int], dict[str, float]], machine: str) -> str:
    lines = [f"Measured {report.now():%Y-%m-%d} on {machine} (`python -m bench.scaling`).", "",
             "| database | workers | API processes | "
             + " | ".join(title for _, title in COLUMNS) + " | failed |",
             "|---|---:|---:|" + "---:|" * (len(COLUMNS) + 1)]
    for (database, workers, apis), figures in results.items():
        cells = [f"{figures.get(key, 0):,.1f}" for key, _ in COLUMNS]
        lines.append(f"| {database} | {workers} | {apis} | " + " | ".join(cells)
                     + f" | {int(figures.get('failed', 0))} |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    info = report.machine()
    machine = (f"{info['cores']} cores, {info['ram_gib']} GiB, {info['cpu']}; load average "
               f"at start {info['load_average_at_start']}")
    results: dict[tuple[str, int, int], dict[str, float]] = {}
    for database in databases:
        for workers, apis in SHAPES:
            began = time.perf_counter()
            progress(f"[{database}] {workers} worker(s), {apis} API process(es)…")
            results[(database, workers, apis)] = await shape(database, workers, apis, args.loads)
            progress(f"[{database}] … {time.perf_counter() - began:.0f} s")
    text = table(results, machine)
    print(text)
    if args.write:
        page = args.write.read_text()
        if not BLOCK.search(page):
            raise SystemExit(f"{args.write} has no <!-- scaling:begin/end --> block")
        args.write.write_text(BLOCK.sub(lambda m: f"{m[1]}\n{text}\n{m[3]}", page))
        progress(f"wrote {args.write}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"],
                        default="postgresql")
    parser.add_argument("--loads", choices=sorted(LOADS), default="full")
    parser.add_argument("--write", type=Path, metavar="PAGE",
                        help="put the table into PAGE's scaling block")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
