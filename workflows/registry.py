"""Every process crmflow runs, in one place: the worker, the API, the policies and the
process views all read this list. Adding a process means its own modules plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workflows import (
    dunning_ladder,
    dunning_types,
    invoice_dunning,
    lead_to_sale,
    project_types,
    quote_approval,
    sale_to_project,
    simulation_run,
    support_ticket,
    support_types,
)
from workflows.contracts import StartOptions
from workflows.own import contracts as own_contracts
from workflows.own import interpreter, scheduled
from workflows.own.policy import OwnWorkflowPolicy


@dataclass(frozen=True)
class ProcessSpec:
    """What the rest of crmflow needs to know about one process."""

    name: str
    """The CrmProcess search attribute's value, e.g. ``lead_to_sale``."""
    workflow: type
    input_type: type
    start_options: Callable[[Any], StartOptions]
    object_type: str
    """The CRM object the process follows; its workflow id is ``{object_type}-{id}``."""
    policy_table: str
    """The policy file's table for this process, e.g. ``[lead_nurturing]``."""
    policy_type: type
    key_field: str = ""
    """The input's field holding the id in the workflow id (default ``{object_type}_id``);
    a project's process is keyed by its sale, which exists before the project does."""
    id_of: Callable[[Any], str] | None = None
    """The workflow id of an input, where it is not ``{object_type}-{id}`` (an enrolment's
    names its definition and object)."""

    def workflow_id(self, object_id: int) -> str:
        return f"{self.object_type}-{object_id}"

    def id_for(self, data: Any) -> str:
        """The workflow id of the run this input starts."""
        return self.id_of(data) if self.id_of else self.workflow_id(self.object_id(data))

    def object_id(self, data: Any) -> int:
        """The id in the workflow id, read from the process's input."""
        return int(getattr(data, self.key_field or f"{self.object_type}_id"))


LEAD_TO_SALE = ProcessSpec("lead_to_sale", lead_to_sale.LeadToSale, lead_to_sale.LeadToSaleInput,
                           lead_to_sale.start_options, "lead", "lead_nurturing",
                           lead_to_sale.LeadNurturingPolicy)
QUOTE_APPROVAL = ProcessSpec("quote_approval", quote_approval.QuoteApproval,
                             quote_approval.QuoteApprovalInput, quote_approval.start_options,
                             "quote", "quote_approval", quote_approval.QuoteApprovalPolicy)

INVOICE_DUNNING = ProcessSpec("invoice_dunning", invoice_dunning.InvoiceDunning,
                              dunning_types.InvoiceDunningInput, invoice_dunning.start_options,
                              "invoice", "dunning", dunning_ladder.DunningPolicy)

SUPPORT_TICKET = ProcessSpec("support_ticket", support_ticket.SupportTicket,
                             support_types.SupportTicketInput, support_ticket.start_options,
                             "ticket", "support", support_types.SupportPolicy)

SALE_TO_PROJECT = ProcessSpec("sale_to_project", sale_to_project.SaleToProject,
                              project_types.SaleToProjectInput, sale_to_project.start_options,
                              "project", "project", project_types.ProjectPolicy,
                              key_field="sale_id")

PROCESSES: tuple[ProcessSpec, ...] = (LEAD_TO_SALE, QUOTE_APPROVAL, INVOICE_DUNNING,
                                      SUPPORT_TICKET, SALE_TO_PROJECT)

OWN_WORKFLOW = ProcessSpec("own_workflow", interpreter.OwnWorkflow,
                           own_contracts.EnrolmentInput, interpreter.start_options, "enrolment",
                           "own_workflows", OwnWorkflowPolicy,
                           id_of=lambda data: own_contracts.workflow_id(
                               data.definition_id, data.object_type, data.object_id))
"""The interpreter of your own workflows: one run per enrolment, started like every process
(recorded with its enrolment, started after the commit); it follows no object of its own."""

BY_NAME = {spec.name: spec for spec in (*PROCESSES, OWN_WORKFLOW)}
WORKFLOWS: tuple[type, ...] = (*(spec.workflow for spec in PROCESSES), OWN_WORKFLOW.workflow,
                               scheduled.ScheduledEnrolments, simulation_run.SimulationRun)
"""Every workflow the worker runs: the processes, the runs of scheduled triggers and the
simulations."""
