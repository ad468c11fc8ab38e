"""What the registry (``workflows.registry``) promises: a process added there is run by the
worker, found through the API, and configured by the policy file — each checked against the
five processes crmflow runs, named here, never against the registry's own list."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from crm import db
from crm.policies import parse_policies
from crm.settings import Settings
from worker.main import build_worker

RUN = {"LeadToSale", "QuoteApproval", "InvoiceDunning", "SupportTicket", "SaleToProject",
       "OwnWorkflow", "ScheduledEnrolments", "SimulationRun"}
"""The workflow types crmflow's worker runs: the five processes, the interpreter of your
own workflows, the runs of their scheduled triggers, and the simulations."""
LISTED = {"lead_to_sale", "quote_approval", "invoice_dunning", "support_ticket",
          "sale_to_project"}
"""The process types ``GET /processes?type=`` takes (the CrmProcess search attribute)."""


async def test_the_worker_runs_every_process(time_skipping: WorkflowEnvironment,
                                             tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = db.create_engine(settings.database_url)
    worker = build_worker(time_skipping.client, settings, db.create_sessions(engine))
    names = {getattr(w, "__temporal_workflow_definition").name
             for w in worker.config()["workflows"]}
    await engine.dispose()
    assert names == RUN


def test_the_api_finds_every_process_by_its_type(tmp_path: Path) -> None:
    schema = create_app(Settings(data_dir=tmp_path)).openapi()
    [kind] = [p for p in schema["paths"]["/processes"]["get"]["parameters"]
              if p["name"] == "type"]
    pattern = next(s for s in kind["schema"].get("anyOf", [kind["schema"]]) if "pattern" in s)
    assert set(pattern["pattern"].strip("^$()").split("|")) == LISTED


def test_the_policy_file_configures_every_process() -> None:
    policies = parse_policies("""
        [lead_nurturing]
        max_loops = 5
        [quote_approval]
        approval_timeout = "P2D"
        [dunning]
        promise_grace = "P1D"
        [support]
        breach_warning_pct = 50
        [project]
        payment_terms = "P45D"
        [own_workflows]
        max_steps = 20
    """)
    assert policies.lead_nurturing.max_loops == 5
    assert policies.quote_approval.approval_timeout.days == 2
    assert policies.dunning.promise_grace.days == 1
    assert policies.support.breach_warning_pct == 50
    assert policies.project.payment_terms.days == 45
    assert policies.own_workflows.max_steps == 20
