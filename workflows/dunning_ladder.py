"""The dunning ladder: the levels an unpaid invoice climbs, as policy data.

Each level has an offset from the due date (negative: before it) and actions. The ladder is
the ``[dunning]`` policy table; an invoice keeps the ladder it started with (it is in its
process's input). Money is ``Decimal``, in cents, in the invoice's currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

CENT = Decimal("0.01")
DEFAULT_LATE_FEE_PCT = Decimal("5")

DunningAction = Literal["email", "late_fee", "task", "collections"]
"""email: the level's template to the customer; late_fee: one fee line added to the
invoice; task: an accountant calls the customer; collections: the hand-off (status
in_collections, a task for accounting, no more emails)."""
DunningTemplate = Literal["dunning_courtesy", "dunning_reminder", "dunning_formal_notice"]
TITLES: dict[str, str] = {
    "dunning_courtesy": "Courtesy notice",
    "dunning_reminder": "Reminder",
    "dunning_formal_notice": "Formal notice",
}


@dataclass
class DunningLevel:
    offset: timedelta
    """From the due date; negative: before it (a courtesy notice)."""
    actions: list[DunningAction]
    template: DunningTemplate | None = None
    """The email's template, for a level with the email action."""

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError("a level needs at least one action")
        if ("email" in self.actions) != (self.template is not None):
            raise ValueError("a level with the email action names its template, and only "
                             "such a level does")
        if "collections" in self.actions:
            if "email" in self.actions:
                raise ValueError("collections sends no more emails: no email at that level")
            if self.offset < timedelta(days=1):
                raise ValueError("collections comes once the due date has passed (an offset "
                                 "of a day or more)")


def default_ladder() -> list[DunningLevel]:
    days = timedelta(days=1)
    return [
        DunningLevel(-3 * days, ["email"], "dunning_courtesy"),
        DunningLevel(7 * days, ["email"], "dunning_reminder"),
        DunningLevel(14 * days, ["email"], "dunning_reminder"),
        DunningLevel(30 * days, ["email", "late_fee", "task"], "dunning_formal_notice"),
        DunningLevel(45 * days, ["collections"]),
    ]


@dataclass
class DunningPolicy:
    levels: list[DunningLevel] = field(default_factory=default_ladder)
    late_fee_pct: Decimal | None = None
    """Of the invoiced total; 5 % when neither this nor ``late_fee_amount`` is set."""
    late_fee_amount: Decimal | None = None
    """A fixed late fee, instead of a percentage."""
    promise_grace: timedelta = timedelta(days=3)
    """How long after a promised date the ladder waits before it resumes."""

    def __post_init__(self) -> None:
        if self.late_fee_pct is None and self.late_fee_amount is None:
            self.late_fee_pct = DEFAULT_LATE_FEE_PCT
        elif self.late_fee_pct is not None and self.late_fee_amount is not None:
            raise ValueError("set late_fee_pct or late_fee_amount, not both")
        for fee in (self.late_fee_pct, self.late_fee_amount):
            if fee is not None and fee < 0:
                raise ValueError("a late fee must not be negative")
        offsets = [level.offset for level in self.levels]
        if offsets != sorted(set(offsets)):
            raise ValueError("levels come in the order of their offsets, one per offset")
        if any("collections" in level.actions for level in self.levels[:-1]):
            raise ValueError("collections is the last level: nothing follows the hand-off")
        if sum("late_fee" in level.actions for level in self.levels) > 1:
            raise ValueError("a late fee is added once: at most one level has late_fee")

    def late_fee(self, total: Decimal) -> Decimal:
        """The fee for an invoice of this total."""
        if self.late_fee_amount is not None:
            return cents(self.late_fee_amount)
        assert self.late_fee_pct is not None
        return cents(total * self.late_fee_pct / 100)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, ROUND_HALF_UP)


def money(amount: Decimal, currency: str) -> str:
    """'600.00 EUR'."""
    return f"{cents(amount)} {currency}"


def day_start(day: date) -> datetime:
    """The moment a day begins (UTC): a due date's levels count from it."""
    return datetime.combine(day, time(), UTC)


def level_title(levels: list[DunningLevel], n: int) -> str:
    """'Courtesy notice', 'Reminder 2', 'Formal notice', 'Collections' for the n-th level
    (from 0): a template used by several levels is numbered."""
    level = levels[n]
    if level.template is None:
        return "Collections" if "collections" in level.actions else f"Level {n + 1}"
    title = TITLES[level.template]
    uses = [i for i, other in enumerate(levels) if other.template == level.template]
    return f"{title} {uses.index(n) + 1}" if len(uses) > 1 else title
