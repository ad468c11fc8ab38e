"""The bare reference worker: ``python -m bench.bare --address HOST:PORT --reports PORT``.

A separate process, like ``crmflow worker``, polling its own task queue on the same server,
with the SDK's defaults (sandbox, workflow cache, slots) and the same data converter as
crmflow. Its one activity tells the bench, by a UDP datagram on loopback, that it ran and
when: the bench times the bare side by these (as it times crmflow's by the emails the SMTP
sink receives).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import time

from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.bare_workflows import REPORT, WORKFLOWS

TASK_QUEUE = "bare"


class Reporter:
    """Sends ``<tag>\\t<unix time>`` to the bench for every non-empty tag."""

    def __init__(self, port: int) -> None:
        self.address = ("127.0.0.1", port)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    @activity.defn(name=REPORT)
    async def report(self, tag: str) -> None:
        if tag:
            self.socket.sendto(f"{tag}\t{time.time()}".encode(), self.address)


async def serve(address: str, task_queue: str, reports_port: int) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                    activities=[Reporter(reports_port).report])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--reports", type=int, required=True, help="the bench's UDP port")
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue, args.reports))


if __name__ == "__main__":
    main()
