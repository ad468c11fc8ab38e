"""The floor's worker: ``python -m bench.floor.worker --address HOST:PORT --database-url URL
--smtp-port PORT``. A process of its own like ``crmflow worker``, polling the ``floor`` task
queue with the SDK's defaults (sandbox, cache, slots) and its default JSON converter."""

from __future__ import annotations

import argparse
import asyncio
import signal

from temporalio.client import Client
from temporalio.worker import Worker

from bench.floor.flows import TASK_QUEUE, WORKFLOWS
from bench.floor.sql import connect
from bench.floor.steps import Steps


async def serve(address: str, database_url: str, smtp_port: int) -> None:
    client = await Client.connect(address)
    db = await connect(database_url)
    steps = Steps(db, "127.0.0.1", smtp_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Worker(client, task_queue=TASK_QUEUE, workflows=WORKFLOWS,
                          activities=[steps.floor_step]):
            await stop.wait()
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.database_url, args.smtp_port))


if __name__ == "__main__":
    main()
