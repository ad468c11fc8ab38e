"""What every view answers: a chart's rows, the columns they have, and what they cover."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Slice:
    """Which cases a view counts: a period (``since`` included, ``until`` not), a team, an
    owner. ``zone`` is the company's wall clock, by which months and days are told apart."""

    since: datetime | None = None
    until: datetime | None = None
    team_id: int | None = None
    owner_id: int | None = None
    zone: tzinfo = UTC

    def covers(self) -> dict[str, Any]:
        return {"from": self.since, "to": self.until, "team": self.team_id,
                "owner": self.owner_id, "time_zone": str(self.zone)}

    def bounds(self, column: Any) -> list[Any]:
        """The conditions that put ``column`` (a moment) in the period."""
        found = []
        if self.since is not None:
            found.append(column >= self.since)
        if self.until is not None:
            found.append(column < self.until)
        return found

    def month_of(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m")


class Refused(ValueError):
    """A view that cannot be answered as asked; ``field`` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def zone(name: str) -> ZoneInfo:
    """The time zone of this IANA name; Refused naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError) as error:
        raise Refused("time_zone", f"unknown time zone {name!r}") from error


@dataclass
class Chart:
    """One view's numbers: ``rows`` (each a dict of ``columns``), with what it covers and
    anything more a reader needs (``extra``: the bottleneck, totals)."""

    view: str
    subject: str
    columns: list[str]
    rows: list[dict[str, Any]]
    covers: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"view": self.view, "subject": self.subject, "covers": self.covers,
                "columns": self.columns, "rows": self.rows, **self.extra}

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(_cell(row.get(column)) for column in self.columns)
        return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def money(value: Any) -> float:
    """An amount as the charts show it: to the cent (half up), 0 for none."""
    return float(Decimal(value or 0).quantize(CENT, ROUND_HALF_UP))


def share(part: int, whole: int) -> float | None:
    """part ÷ whole, None where there is no whole."""
    return round(part / whole, 4) if whole else None
