"""Build and run the worker from explicit lists of workflows and activities."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.billing import BillingActivities
from activities.crm_db import CrmActivities, Enrolling
from activities.email import EmailActivities, SmtpMailer
from activities.own import OwnWorkflowActivities
from activities.projects import ProjectActivities
from activities.simulations import SimulationActivities
from activities.support import DisputeTickets, SupportActivities
from activities.webhooks import WebhookActivities
from crm import db
from crm.policies import PolicyStore
from crm.settings import Settings
from crm.temporal import connect
from worker.interceptors import ActivityContext
from worker.sandbox import workflow_runner
from worker.versioning import build_id, deployment_config
from workflows.registry import WORKFLOWS

log = structlog.get_logger(__name__)
GRACEFUL_SHUTDOWN = timedelta(seconds=30)
"""On SIGTERM, activities in hand get this long to finish before they are cancelled."""
HEARTBEAT_FLUSH = timedelta(seconds=1)
"""A heartbeat's details reach Temporal within this: an email the SMTP server accepted is
known as accepted (never sent again) within a second, even while the database is down."""


def activities(
    client: Client, settings: Settings, sessions: db.Sessions, mailer: SmtpMailer
) -> list[Callable[..., Any]]:
    """Every activity, by the system it touches. Those that start another process (commit,
    then start, as the API does) hold the Temporal client."""
    enrolling = Enrolling(client, settings, PolicyStore(settings.policy_file))
    crm = CrmActivities(sessions, enrolling)
    own = OwnWorkflowActivities(sessions, enrolling)
    webhooks = WebhookActivities(sessions, settings, PolicyStore(settings.policy_file))
    email = EmailActivities(sessions, mailer)
    billing = BillingActivities(sessions, client, settings, PolicyStore(settings.policy_file))
    disputes = DisputeTickets(sessions, client, settings)
    support = SupportActivities(sessions)
    projects = ProjectActivities(sessions, client, settings, PolicyStore(settings.policy_file))
    simulations = SimulationActivities(sessions, PolicyStore(settings.policy_file))
    return [
        crm.record_status,
        crm.create_task,
        crm.find_people,
        crm.assign_sales_rep,
        crm.open_opportunity,
        crm.create_sale,
        email.send_email,
        billing.issue_invoice,
        billing.record_payment,
        billing.update_invoice,
        disputes.open_dispute_ticket,
        support.assign_ticket,
        support.record_ticket_message,
        support.save_ticket,
        projects.start_project,
        projects.complete_milestone,
        projects.end_project,
        own.read_object,
        own.task_open,
        own.enrol_scheduled,
        own.find_person,
        own.record_enrolment,
        own.set_status,
        own.set_field,
        own.open_ticket,
        webhooks.call_webhook,
        simulations.run_simulation,
    ]


def build_worker(
    client: Client, settings: Settings, sessions: db.Sessions, *, task_queue: str | None = None
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=list(WORKFLOWS),
        activities=activities(client, settings, sessions, SmtpMailer(settings)),
        interceptors=[ActivityContext()],
        workflow_runner=workflow_runner(),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        max_heartbeat_throttle_interval=HEARTBEAT_FLUSH,
        deployment_config=deployment_config(settings),
    )


def runtime_for(settings: Settings) -> Runtime | None:
    """A runtime exposing the SDK's Prometheus metrics when a port is set."""
    if settings.worker_metrics_port is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"0.0.0.0:{settings.worker_metrics_port}")
        )
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then finish the tasks in hand and stop."""
    client = await connect(settings, runtime=runtime_for(settings))
    engine = db.create_engine(settings.database_url)
    worker = build_worker(client, settings, db.create_sessions(engine))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.temporal_task_queue,
             deployment=settings.worker_deployment,
             build_id=build_id(settings) if settings.worker_deployment else None,
             temporal=settings.temporal_address, namespace=settings.temporal_namespace)
    async with worker:
        await stop.wait()
    await engine.dispose()
    log.info("worker stopped")
