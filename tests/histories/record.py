"""Record workflow histories from real scenarios, for the replay test.

    .venv/bin/python -m tests.histories.record [--label LABEL]

Each scenario runs the real workflow code with the real activities (a scratch SQLite CRM
database, a real SMTP server) on the time-skipping server, then writes the history to
``tests/histories/<WorkflowType>/<scenario>.<label>.json`` (label: today's date; 1.0.0
for the first generation). Earlier recordings stay: they stand for processes still running
in production, which every later version of the code must replay. Delete a recording only
with the patch that keeps its shape replaying, once ``crmflow processes versions`` counts no
open run of that shape (``workflows.patches``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from datetime import date
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.migrate import upgrade_to_head
from crm.settings import Settings
from crmflow.mail_sink import start_mail_sink
from tests import factories
from tests.conftest import binary, free_port, register_search_attributes
from tests.histories.scenarios import all_scenarios
from tests.histories.world import World
from worker.main import build_worker

HERE = Path(__file__).resolve().parent
SCENARIOS = all_scenarios()


async def record(label: str, only: list[str] | None = None) -> list[Path]:
    written = []
    scratch = Path(tempfile.mkdtemp(prefix="crmflow-histories-"))
    smtp_port = free_port()
    controller, _ = start_mail_sink("127.0.0.1", smtp_port)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        for name, scenario in SCENARIOS.items():
            if only and name not in only:
                continue
            url = f"sqlite+aiosqlite:///{scratch / f'{name}.db'}"
            await upgrade_to_head(url)
            engine = db.create_engine(url)
            sessions = db.create_sessions(engine)
            queue = f"record-{name}"
            settings = Settings(database_url=url, smtp_port=smtp_port, data_dir=scratch,
                                temporal_task_queue=queue)
            async with build_worker(env.client, settings, sessions):
                world = World(env, sessions, queue, await factories.sales_team(sessions))
                handle = await scenario(world)
                history = await handle.fetch_history()
            await engine.dispose()
            workflow_type = (await handle.describe()).workflow_type
            path = HERE / workflow_type / f"{name}.{label}.json"
            if path.exists():
                raise SystemExit(f"{path} exists: recordings are kept; pass another --label")
            path.parent.mkdir(exist_ok=True)
            path.write_text(history.to_json() + "\n")
            written.append(path)
            print(f"recorded {path.relative_to(HERE.parent.parent)}")
    finally:
        await env.shutdown()
        controller.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default=date.today().isoformat())
    parser.add_argument("scenario", nargs="*", choices=[[], *SCENARIOS], default=[])
    args = parser.parse_args()
    asyncio.run(record(args.label, args.scenario or None))


if __name__ == "__main__":
    main()
