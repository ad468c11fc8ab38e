"""``python -m bench``: run every measure of issue 12, crmflow beside bare Temporal, and print
the table (see ``bench/__init__.py`` and ``../shared/docs/performance.md``).

    python -m bench                       # full loads, SQLite and PostgreSQL (< 10 min)
    python -m bench --quick               # small loads, SQLite (< 2 min)
    python -m bench --database postgresql --out /tmp/bench --profile

Each database gets a stack of its own (``bench.stack``); its measures run in an order that
keeps them apart: memory first on fresh workers, the timer storm's long hold used for the
read measure, the storm's pending quotes then decided by the approval measure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import report
from bench.loads import LOADS, Loads
from bench.measures import (
    approvals,
    deals,
    enrolments,
    felt,
    floor,
    intake,
    reads,
    simulations,
    starts,
    storm,
)
from bench.outcomes import Outcome
from bench.processes import StackError
from bench.profiles import write_summary
from bench.stack import NoPostgres, Stack, running_stack

RESULTS = Path(__file__).resolve().parent / "results"
POSTGRES_SERVER = os.environ.get(
    "CRMFLOW_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


API_PROCESSES = os.cpu_count() or 1
"""crmflow's API runs as production is advised to: one process per core."""
MEASURES = frozenset({"intake", "starts", "deals", "reads", "storm", "approvals",
                      "enrolments", "simulations", "felt"})
"""``--only`` names; the approvals decide the storm's quotes, so they prepare a storm too,
and so does ``felt`` (its decisions are on the storm's quotes, its rates this run's)."""


def _measures(text: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    if not names or names - MEASURES:
        raise argparse.ArgumentTypeError(
            f"choose among {', '.join(sorted(MEASURES))}, not {text!r}")
    return names


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def step(stack: Stack, name: str, work: Callable[[], Awaitable[Outcome]],
               outcome: Outcome) -> None:
    if await stack.unstick_api():
        progress(f"[{stack.database}] (the API was stuck after the last measure: restarted)")
    if not await stack.settle():
        progress(f"[{stack.database}] (the stack is still busy from the last measure)")
    began = time.perf_counter()
    progress(f"[{stack.database}] {name}…")
    outcome.add(await work())
    progress(f"[{stack.database}] {name}: {time.perf_counter() - began:.0f} s")


async def on_floor(stack: Stack, name: str, work: Callable[[], Awaitable[object]]) -> None:
    """The floor's side of a measure (``bench.measures.floor``), right after crmflow's."""
    await stack.settle()
    began = time.perf_counter()
    progress(f"[{stack.database}] floor: {name}…")
    await work()
    progress(f"[{stack.database}] floor: {name}: {time.perf_counter() - began:.0f} s")


async def measure_database(database: str, loads: Loads, args: argparse.Namespace,
                           profiles: Path | None) -> Outcome:
    outcome = Outcome()
    began = time.perf_counter()
    async with running_stack(database, postgres_server=args.postgres_url,
                             profile_dir=profiles, keep=args.keep,
                             api_processes=args.api_processes) as stack:
        progress(f"[{database}] stack up in {time.perf_counter() - began:.0f} s"
                 + (f" (files in {stack.workdir})" if args.keep else ""))
        await _run_measures(stack, loads, args.only, outcome)
        await floor.events(stack, outcome, {row.measure.split(":")[0] for row in outcome.rows})
        await floor.audited(stack, outcome)
    return outcome


async def _run_measures(stack: Stack, loads: Loads, only: frozenset[str], outcome: Outcome,
                    ) -> None:
    database = stack.database
    if "intake" in only:
        await step(stack, "intake and memory", lambda: intake.measure(stack, loads), outcome)
        await on_floor(stack, "intake and memory", lambda: floor.memory(
            stack, loads, outcome, outcome.counts["intake"]))
    if "starts" in only:
        await step(stack, "starts", lambda: starts.measure(stack, loads), outcome)
        await on_floor(stack, "starts", lambda: floor.starts(stack, loads, outcome))
    if "deals" in only:
        await step(stack, "short process", lambda: deals.measure(stack, loads), outcome)
        await on_floor(stack, "short process", lambda: floor.deals(
            stack, loads, outcome, loads.deals))
    if "enrolments" in only:
        await step(stack, "own workflow enrolments",
                   lambda: enrolments.measure(stack, loads), outcome)
    if "simulations" in only:
        await step(stack, "simulations", lambda: simulations.measure(stack, loads), outcome)
    if not {"storm", "approvals", "felt"} & only:
        if "reads" in only:
            await step(stack, "reads", lambda: reads.measure(stack, loads), outcome)
        return
    await stack.settle()
    progress(f"[{database}] timer storm: preparing…")
    prepared = await storm.prepare(stack, loads)
    progress(f"[{database}] floor: timer storm: preparing…")
    floor_storm = await floor.prepare_storm(stack, loads, len(prepared.ours.reminders))
    if "reads" in only:
        await step(stack, "reads (while the storm's reminders fall due)",
                   lambda: reads.measure(stack, loads), outcome)
    progress(f"[{database}] timer storm: due in "
             f"{max(0.0, prepared.due_by - time.time()):.0f} s")
    storm_outcome, pending = await prepared.unleash()
    if "storm" in only:
        outcome.add(storm_outcome)
    floor_pending = await floor.unleash(stack, loads, floor_storm, outcome if "storm" in only
                                        else Outcome(storm_outcome.rows))
    kept = felt.kept_for_decisions(pending.quote_ids)
    pending.quote_ids = pending.quote_ids[:len(pending.quote_ids) - len(kept)]
    if "approvals" in only:
        await step(stack, "approvals", lambda: approvals.measure(stack, loads, pending),
                   outcome)
        await on_floor(stack, "approvals", lambda: floor.approvals(
            stack, loads, outcome, floor_pending))
    if "felt" in only:
        await step(stack, "at 20 % of capacity", lambda: felt.measure(
            stack, loads, outcome, kept), outcome)


async def run(args: argparse.Namespace) -> int:
    loads = LOADS[args.loads]
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    out: Path = args.out
    profiles = out / "profiles" if args.profile else None
    if profiles:
        profiles.mkdir(parents=True, exist_ok=True)
    started, began = report.now(), time.perf_counter()
    info = {**report.machine(), "api_processes": args.api_processes}
    outcome, skipped = Outcome(), []
    for database in databases:
        try:
            outcome.add(await measure_database(database, loads, args, profiles))
        except NoPostgres as error:
            if args.database != "both":
                raise
            skipped.append(f"postgresql: {error}")
            progress(f"skipping PostgreSQL: {error}")
    result = report.Report(loads.name, started, time.perf_counter() - began, info, outcome,
                           skipped)
    print(report.table(result))
    for path in report.write(result, out):
        progress(f"wrote {path}")
    if profiles:
        progress(f"profiles (speedscope) in {profiles}")
        summary = write_summary(profiles)
        if summary:
            progress(f"wrote {summary}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", dest="loads", action="store_const", const="quick",
                        default="full",
                        help="small loads (about 2 minutes); SQLite unless --database says")
    parser.add_argument("--loads", choices=sorted(LOADS), default="full",
                        help="full (default), quick, or tiny (the test's)")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"],
                        help="default: both for full loads, sqlite otherwise")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"folder for latest.json/.md/.png (default {RESULTS})")
    parser.add_argument("--profile", action="store_true",
                        help="record py-spy profiles of the API and worker during crmflow's "
                             "side of each measure (slows crmflow a little)")
    parser.add_argument("--postgres-url", default=POSTGRES_SERVER,
                        help="server for the scratch database (CRMFLOW_TEST_POSTGRES_URL)")
    parser.add_argument("--only", type=_measures, default=MEASURES,
                        help="while developing: a comma-separated subset of "
                             f"{','.join(sorted(MEASURES))} (default: all)")
    parser.add_argument("--api-processes", type=int, default=API_PROCESSES, metavar="N",
                        help="crmflow's API processes (CRMFLOW_API_PROCESSES; default: one "
                             f"per core, here {API_PROCESSES})")
    parser.add_argument("--keep", action="store_true",
                        help="keep each stack's folder (logs, databases) for a look after")
    args = parser.parse_args(argv)
    if args.database is None:
        args.database = "both" if args.loads == "full" else "sqlite"

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(args)

    try:
        return asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress("interrupted: everything the bench started is stopped")
        return 130
    except StackError as error:
        progress(f"bench: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
