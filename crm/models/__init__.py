"""Every CRM table, importable from one place (Alembic reads ``Base.metadata`` here)."""

from crm.models.base import Base
from crm.models.billing import Invoice, InvoiceLine, Payment
from crm.models.files import StoredFile
from crm.models.own import DefinitionVersion, Enrolment, EnrolmentStep, WorkflowDefinition
from crm.models.people import ApiToken, SeenSignature, Team, User, UserSkill
from crm.models.projects import (
    Expense,
    Milestone,
    Project,
    ProjectMember,
    ProjectTemplate,
    Timesheet,
)
from crm.models.sales import Account, Contact, Lead, LeadEvent, Quote, QuoteLine, Sale
from crm.models.simulation import Simulation
from crm.models.support import Ticket, TicketMessage
from crm.models.work import IdempotentRequest, OutboxEmail, ProcessStart, StatusChange, Task

__all__ = [
    "Account",
    "ApiToken",
    "Base",
    "Contact",
    "DefinitionVersion",
    "Enrolment",
    "EnrolmentStep",
    "Expense",
    "IdempotentRequest",
    "Invoice",
    "InvoiceLine",
    "Lead",
    "LeadEvent",
    "Milestone",
    "OutboxEmail",
    "Payment",
    "ProcessStart",
    "Project",
    "ProjectMember",
    "ProjectTemplate",
    "Quote",
    "QuoteLine",
    "Sale",
    "SeenSignature",
    "Simulation",
    "StatusChange",
    "StoredFile",
    "Task",
    "Team",
    "Ticket",
    "TicketMessage",
    "Timesheet",
    "User",
    "UserSkill",
    "WorkflowDefinition",
]
