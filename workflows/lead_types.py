"""Lead to sale's data: its policy, input, state, result and messages (the workflow is
``workflows.lead_to_sale``). Plain dataclasses, no behaviour: the worker passes this module
through its sandbox (``worker/sandbox.py``), so they are created once, not for every run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Literal


@dataclass
class LeadNurturingPolicy:
    step_delay: timedelta = timedelta(days=3)
    """Between two nurturing emails."""
    content_wait: timedelta = timedelta(days=7)
    """How long to wait for the white paper download before sending another case study."""
    max_loops: int = 2
    """How many extra case studies at most before giving up on the download."""
    call_task_due: timedelta = timedelta(days=1)
    lead_ttl: timedelta = timedelta(days=90)
    """A lead without any activity for this long becomes dormant and its process ends."""
    rep_assignment: Literal["round_robin", "least_loaded"] = "round_robin"


@dataclass
class LeadState:
    status: str = "new"
    owner_id: int | None = None
    waiting_for: str = ""
    emails_sent: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    extra_case_studies: int = 0
    unsubscribed: bool = False
    demo_requested: bool = False
    call_task_id: int | None = None
    open_quotes: list[int] = field(default_factory=list)
    won_quote_id: int | None = None
    follow_ups: int = 0
    """Follow-up tasks made so far: their purposes are numbered across runs."""
    status_reason: str = ""


@dataclass
class LeadToSaleInput:
    lead_id: int
    name: str
    email: str
    team_id: int | None = None
    owner_id: int | None = None
    policy: LeadNurturingPolicy = field(default_factory=LeadNurturingPolicy)
    carried: LeadState | None = None
    """The state of the previous run, when the process continued as new."""
    company: str | None = None
    source: str = "newsletter"


@dataclass
class LeadResult:
    status: str
    won_quote_id: int | None = None


@dataclass
class ContentDownload:
    content: str


@dataclass
class MarketingResponse:
    content: str | None = None


@dataclass
class Qualification:
    qualified: bool
    by_user_id: int
    by_role: str
    reason: str | None = None
    need: str | None = None
    budget: Decimal | None = None
