"""What processes tell each other: workflow ids, signal names and their payloads.

A process never imports another process's workflow class; it signals by name with one of
these small dataclasses, so each workflow module can change on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

QUOTE_OUTCOMES = ("won", "lost", "expired", "rejected")
QUOTE_PROGRESS = "quote_progress"
"""Signal to a lead's process: one of its quotes opened, or reached an outcome."""


def lead_process_id(lead_id: int) -> str:
    return f"lead-{lead_id}"


@dataclass
class QuoteProgress:
    """Sent by a quote's approval process: it opened, or reached an outcome."""

    quote_id: int
    status: str


def invoice_process_id(invoice_id: int) -> str:
    return f"invoice-{invoice_id}"


def project_process_id(sale_id: int) -> str:
    """A project's process is keyed by its sale: the sale exists before the project does."""
    return f"project-{sale_id}"


def ticket_process_id(ticket_id: int) -> str:
    return f"ticket-{ticket_id}"


DISPUTE_RESOLVED = "dispute_resolved"
"""Signal to an invoice's dunning process: the dispute about it was resolved (by the support
ticket it opened, or by an accountant)."""


@dataclass
class DisputeResolution:
    upheld: bool
    """True: the customer was right (credit note, invoice closed); False: dunning resumes."""
    note: str
    by_user_id: int | None = None
    ticket_id: int | None = None


INVOICE_SETTLED = "invoice_settled"
"""Signal to the process that issued an invoice (a project's): it is paid, written off or
credited, and its dunning process has ended."""


@dataclass
class InvoiceSettled:
    invoice_id: int
    status: str
    """paid, written_off or credited."""
