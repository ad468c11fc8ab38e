"""The ``crmflow`` command: the dev stack, the worker, the API, migrations, users, your own
workflows' definitions."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from crm.logs import configure_logging
from crm.settings import Settings
from crmflow import __version__
from workflows.roles import Role


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="crmflow", description="Customer processes as durable Temporal workflows."
    )
    parser.add_argument("--version", action="version", version=f"crmflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run the whole stack locally (Temporal, worker, API, mail)")
    commands.add_parser("worker", help="run a worker (production)")
    commands.add_parser("api", help="run the HTTP API (production)")
    commands.add_parser("migrate", help="bring the CRM database to the newest schema")
    users = commands.add_parser("users", help="manage users and their API tokens")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    create = user_commands.add_parser("create", help="create a user; prints their API token")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--team", help="team name (created if new)")
    create.add_argument("--skill", action="append", default=[], help="repeatable")
    token = user_commands.add_parser("token", help="issue another API token for a user")
    token.add_argument("--email", required=True)
    for command in (create, token):
        command.add_argument("--valid-days", type=int, metavar="DAYS",
                             help="the token stops working after this many days (default: "
                                  "until revoked)")
    revoke = user_commands.add_parser("revoke", help="revoke every API token of a user")
    revoke.add_argument("--email", required=True)
    processes = commands.add_parser("processes", help="look after the processes")
    process_commands = processes.add_subparsers(dest="processes_command", required=True)
    repair = process_commands.add_parser(
        "repair", help="start every recorded process that did not start (a request that died "
                       "between saving and starting, or met Temporal down)")
    repair.add_argument("--older-than", type=float, default=30.0, metavar="SECONDS",
                        help="leave alone starts younger than this, which a request may still "
                             "be making (default: 30)")
    process_commands.add_parser(
        "versions", help="per registered patch, how many open runs still predate it (a patch "
                         "is removed only when none does)")
    own = commands.add_parser("workflows", help="your own workflow definitions, kept as files")
    own_commands = own.add_subparsers(dest="workflows_command", required=True)
    check = own_commands.add_parser(
        "validate", help="check a definition (YAML or JSON): every problem, naming its step")
    check.add_argument("file", type=Path)
    publish = own_commands.add_parser(
        "publish", help="publish a definition as the next version of the one of its name "
                        "(created when new); running enrolments keep their version")
    publish.add_argument("file", type=Path)
    publish.add_argument("--by", required=True, metavar="EMAIL",
                         help="the user who publishes it (one its roles let edit it)")

    simulate = commands.add_parser(
        "simulate", help="what a changed policy would have done with past cases (nothing of "
                         "the CRM changes, nothing is sent)")
    simulate.add_argument("--process", required=True, help="e.g. quote_approval")
    simulate.add_argument("--policy", type=Path, metavar="FILE",
                          help="a TOML file whose table for the process holds the values to "
                               "change (none: the policy in force, twice)")
    simulate.add_argument("--since", default="90d", help="the cases started since (90d, 12w)")
    simulate.add_argument("--team", type=int, help="only this team's cases")
    simulate.add_argument("--json", action="store_true", help="the whole result, as JSON")

    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValueError as error:
        print(f"crmflow: invalid settings: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    if args.command == "api":
        return _serve_api(settings)
    try:
        code = asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        return 130
    if args.command == "simulate":
        # A simulation's Temporal runtime keeps native threads that may call into Python
        # while the interpreter shuts down (seen as a PyGILState_Release abort in about 1
        # exit in 6): its work is done and printed, so leave without that shutdown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from crm.errors import CrmError

    try:
        return await _dispatch(args, settings)
    except CrmError as error:
        print(f"crmflow: {error.detail}", file=sys.stderr)
        return 1


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "dev":
        from crmflow.dev_stack import StackError, run_dev_stack

        try:
            await run_dev_stack(settings)
        except StackError as error:
            print(f"crmflow: {error}", file=sys.stderr)
            return 1
    elif args.command == "worker":
        from worker.main import run_worker

        await run_worker(settings)
    elif args.command == "migrate":
        from crm.migrate import upgrade_to_head

        await upgrade_to_head(settings.database_url)
        print("CRM database is at the newest schema", file=sys.stderr)
    elif args.command == "workflows":
        from crmflow import definitions_cli

        if args.workflows_command == "validate":
            return definitions_cli.validate(args.file, settings)
        return await definitions_cli.publish(args.file, args.by, settings)
    elif args.command == "simulate":
        from crmflow import simulate_cli

        return await simulate_cli.simulate(args.process, args.policy, args.since, args.team,
                                           args.json, settings)
    elif args.command == "processes" and args.processes_command == "versions":
        return await _versions(settings)
    elif args.command == "processes":
        return await _repair(args, settings)
    elif args.users_command == "create":
        return await _create_user(args, settings)
    elif args.users_command == "revoke":
        await _revoke(args, settings)
    else:
        await _new_token(args, settings)
    return 0


def _serve_api(settings: Settings) -> int:
    """One API process, or ``CRMFLOW_API_PROCESSES`` of them sharing the port (uvicorn's
    workers, each making its app from the environment as this one did); their request
    metrics are summed up here, through a scratch folder they write to."""
    import uvicorn

    from api.app import create_app, refused_in_production
    from api.metrics import serve_metrics

    if (refusal := refused_in_production(settings)) is not None:
        print(f"crmflow: {refusal}", file=sys.stderr)
        return 2
    common: dict[str, Any] = dict(host=settings.api_host, port=settings.api_port,
                                  log_config=None, access_log=False, proxy_headers=True)
    try:
        if settings.api_processes == 1:
            if settings.api_metrics_port is not None:
                serve_metrics(settings.api_metrics_port)
            uvicorn.Server(uvicorn.Config(create_app(settings), **common)).run()
            return 0
        with tempfile.TemporaryDirectory(prefix="crmflow-api-metrics-") as figures:
            if settings.api_metrics_port is not None:
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = figures  # the processes inherit it
                serve_metrics(settings.api_metrics_port, processes_writing_to=Path(figures))
            uvicorn.run("api.app:app_from_environment", factory=True,
                        workers=settings.api_processes, **common)
        return 0
    except KeyboardInterrupt:
        return 130


async def _repair(args: argparse.Namespace, settings: Settings) -> int:
    from crm import db
    from crm.launcher import repair
    from crm.temporal import connect

    engine = db.create_engine(settings.database_url)
    try:
        client = await connect(settings)
        repaired = await repair(db.create_sessions(engine), client, settings,
                                older_than=timedelta(seconds=args.older_than))
    finally:
        await engine.dispose()
    for item in repaired:
        print(f"{item.workflow_id}: {item.outcome}")
    started = sum(item.outcome == "started" for item in repaired)
    print(f"{started} of {len(repaired)} pending processes started", file=sys.stderr)
    return 0 if started == len(repaired) else 1


async def _versions(settings: Settings) -> int:
    from crm.patch_census import census
    from crm.temporal import connect

    counted = await census(await connect(settings))
    for each in counted:
        patch = each.patch
        print(f"{patch.id} (since {patch.since}; {', '.join(patch.workflow_types)}): "
              f"{each.predating} open runs predate it, {each.carrying} carry it: {each.advice}")
    if not counted:
        print("no patches: every open run is of this generation's code")
    return 0


async def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    from crm import db
    from crm.policies import PolicyStore
    from crm.repo import people

    categories = PolicyStore(settings.policy_file).current().support.categories
    if unknown := [skill for skill in args.skill if skill not in categories]:
        print(f"--skill {', '.join(unknown)}: not a ticket category of the support policy "
              f"({', '.join(categories)})", file=sys.stderr)
        return 2

    engine = db.create_engine(settings.database_url)
    async with db.unit_of_work(db.create_sessions(engine)) as session:
        user = await people.create_user(session=session, name=args.name, email=args.email,
                                        role=Role(args.role), team=args.team, skills=args.skill)
        token = await people.issue_token(session=session, user=user, label="cli",
                                         valid_for=_valid_for(args))
    await engine.dispose()
    print(f"created user {user.id} {user.email} ({user.role}); API token:", file=sys.stderr)
    print(token)
    return 0


async def _revoke(args: argparse.Namespace, settings: Settings) -> None:
    from crm import db
    from crm.repo import people

    engine = db.create_engine(settings.database_url)
    async with db.unit_of_work(db.create_sessions(engine)) as session:
        user = await people.get_user_by_email(session=session, email=args.email)
        revoked = await people.revoke_tokens(session=session, user=user)
    await engine.dispose()
    print(f"revoked {revoked} token(s) of {user.email}", file=sys.stderr)


async def _new_token(args: argparse.Namespace, settings: Settings) -> None:
    from crm import db
    from crm.repo import people

    engine = db.create_engine(settings.database_url)
    async with db.unit_of_work(db.create_sessions(engine)) as session:
        user = await people.get_user_by_email(session=session, email=args.email)
        token = await people.issue_token(session=session, user=user, label="cli",
                                         valid_for=_valid_for(args))
    await engine.dispose()
    print(token)


def _valid_for(args: argparse.Namespace) -> timedelta | None:
    return timedelta(days=args.valid_days) if args.valid_days else None


if __name__ == "__main__":
    sys.exit(main())
