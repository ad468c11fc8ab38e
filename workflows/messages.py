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
