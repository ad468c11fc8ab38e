"""A small history every insight is computed from by hand (tests/insights/test_views.py).

October 2026 on Paris's wall clock: from 2026-10-01 00:00+02:00 to 2026-11-01 00:00+01:00,
31 days and one hour (summer time ends on 25 October). Rows are written as the processes
write them: the object, then each status change with its time, who, from what and since when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from crm import db
from crm.models import (
    Account,
    DefinitionVersion,
    Enrolment,
    EnrolmentStep,
    Invoice,
    Lead,
    Payment,
    Quote,
    QuoteLine,
    StatusChange,
    Ticket,
    WorkflowDefinition,
)
from tests import factories

PARIS = ZoneInfo("Europe/Paris")
SINCE = datetime(2026, 10, 1, tzinfo=PARIS)
UNTIL = datetime(2026, 11, 1, tzinfo=PARIS)


def at(day: int, hour: int = 0, month: int = 10) -> datetime:
    """A moment of 2026 in UTC."""
    return datetime(2026, month, day, hour, tzinfo=UTC)


@dataclass
class Known:
    team: factories.SalesTeam
    support: factories.SupportTeam
    leads: dict[str, int] = field(default_factory=dict)
    quotes: dict[str, int] = field(default_factory=dict)
    tickets: dict[str, int] = field(default_factory=dict)
    invoices: dict[str, int] = field(default_factory=dict)
    enrolments: dict[str, int] = field(default_factory=dict)
    definition_id: int = 0


async def build(sessions: db.Sessions, team: factories.SalesTeam | None = None) -> Known:
    """The history, made by the given sales team (a new one by default) and a new support
    team."""
    known = Known(team or await factories.sales_team(sessions),
                  await factories.support_team(sessions))
    async with db.unit_of_work(sessions) as session:
        rep, manager, admin = known.team.rep, known.team.manager, known.team.admin
        foreign = known.team.foreign_manager

        async def changes(kind: str, row: Lead | Quote | Invoice, first: str,
                          *moves: tuple[str, datetime, int | None]) -> None:
            status, entered = first, row.created_at
            for to, when, by in moves:
                session.add(StatusChange(
                    object_type=kind, object_id=row.id, from_status=status, to_status=to,
                    actor=f"user:{by}" if by else f"{kind}-{row.id}", actor_user_id=by,
                    changed_at=when, entered_at=entered))
                if to != status:
                    status, entered = to, when

        async def lead(name: str, created: datetime, *moves: tuple[str, datetime],
                       team: int | None = None, owner: int | None = None) -> int:
            row = Lead(name=name, email=f"{name.lower()}@acme.example", created_at=created,
                       team_id=team or rep.team_id, owner_id=owner or rep.id,
                       status=moves[-1][0] if moves else "new")
            session.add(row)
            await session.flush()
            await changes("lead", row, "new", *((to, when, None) for to, when in moves))
            known.leads[name] = row.id
            return row.id

        await lead("L1", at(2, 9), ("engaged", at(3, 9)), ("qualified", at(5, 9)),
                   ("won", at(10, 9)))
        await lead("L2", at(4, 10), ("qualified", at(4, 16)))
        await lead("L3", at(6), ("nurturing", at(6, 12)), ("engaged", at(9, 12)),
                   ("disqualified", at(10, 12)))
        await lead("L4", at(7), ("nurturing", at(7, 1)), ("dormant", at(20, 1)))
        # Born before the period (2026-09-30 23:00 in Paris), out of its funnel:
        await lead("L5", at(30, 21, month=9))
        # Born before too; its engaged stay ends in October (7 days): a cycle time of it.
        await lead("L7", at(20, month=9), ("engaged", at(25, month=9)),
                   ("qualified", at(2)))
        # Another team's.
        await lead("L6", at(8), ("qualified", at(9)), team=foreign.team_id, owner=foreign.id)

        async def quote(name: str, created: datetime, lines: list[tuple[str, str]],
                        discount: str, *moves: tuple[str, datetime, int | None],
                        valid_until: datetime | None = None) -> int:
            row = Quote(lead_id=known.leads["L1"], author_id=rep.id, team_id=rep.team_id,
                        created_at=created, discount_pct=Decimal(discount),
                        status=moves[-1][0], submission=1, valid_until=valid_until)
            row.lines = [QuoteLine(position=n, description="licence", quantity=Decimal(q),
                                   unit_price=Decimal(p))
                         for n, (q, p) in enumerate(lines, start=1)]
            session.add(row)
            await session.flush()
            await changes("quote", row, "draft", *moves)
            known.quotes[name] = row.id
            return row.id

        await quote("Q1", at(3, 10), [("1", "5000")], "30",
                    ("submitted", at(4, 10), rep.id), ("pending_approval", at(4, 10), None),
                    ("validated", at(5, 16), manager.id), ("sent", at(6), rep.id),
                    ("won", at(10, 9), rep.id))
        await quote("Q2", at(8), [("2", "500")], "10",
                    ("submitted", at(8, 9), rep.id), ("validated", at(8, 9), None),
                    ("sent", at(9), rep.id), valid_until=at(31, 23))
        await quote("Q3", at(11), [("1", "1234.56")], "25",
                    ("submitted", at(11, 9), rep.id), ("pending_approval", at(11, 9), None),
                    ("validated", at(16, 9), None), valid_until=at(15, 12, month=11))
        await quote("Q4", at(12), [("1", "100")], "40",
                    ("submitted", at(12, 12), rep.id), ("pending_approval", at(12, 12), None),
                    ("rejected", at(12, 18), manager.id))
        await quote("Q5", at(13), [("1", "100")], "50",
                    ("submitted", at(13), rep.id), ("pending_approval", at(13), None),
                    ("escalated", at(18), None), ("rejected", at(19), admin.id))
        await quote("Q6", at(20), [("3", "100")], "0", ("submitted", at(20, 9), rep.id))

        support = known.support
        customer = "jane@acme.example"

        opened: dict[str, Ticket] = {}

        def ticket(name: str, priority: str, category: str, assignee: int | None,
                   **facts: object) -> None:
            opened[name] = Ticket(requester_email=customer, subject=name, category=category,
                         priority=facts.pop("priority_now", priority), opened_priority=priority,
                         assignee_id=assignee, created_at=at(5), status="open", **facts)
            session.add(opened[name])

        agent = support.agent.id
        ticket("T1", "high", "sim", agent, first_responded_at=at(5, 1), resolved_at=at(6),
               rating=5)
        ticket("T2", "high", "sim", agent, priority_now="urgent", first_responded_at=at(5, 9),
               first_response_breached_at=at(5, 4), resolved_at=at(9),
               resolution_breached_at=at(8), reopenings=1, rating=2)
        ticket("T3", "normal", "network", agent, first_responded_at=at(5, 2))
        ticket("T4", "normal", "network", None)
        ticket("T5", "high", "billing", agent, first_response_breached_at=at(5, 4))
        await session.flush()
        known.tickets = {name: row.id for name, row in opened.items()}
        account_row = Account(name="Acme", billing_email="billing@acme.example")
        session.add(account_row)
        await session.flush()
        account = account_row.id

        async def invoice(name: str, amount: str, issued: date, level: int, status: str,
                          *moves: tuple[str, datetime], late_fee: str = "0",
                          credited: str = "0", paid: tuple[tuple[str, datetime], ...] = ()
                          ) -> None:
            row = Invoice(number=name, account_id=account, amount=Decimal(amount),
                          late_fee=Decimal(late_fee), credited=Decimal(credited),
                          issued_on=issued, due_on=issued + timedelta(days=14),
                          level_reached=level, status=status,
                          created_at=datetime.combine(issued, datetime.min.time(), PARIS))
            session.add(row)
            await session.flush()
            await changes("invoice", row, "open", *((to, when, None) for to, when in moves))
            for amount_paid, when in paid:
                session.add(Payment(invoice_id=row.id, amount=Decimal(amount_paid),
                                    received_at=when, balance_after=Decimal(0)))
            known.invoices[name] = row.id

        october = lambda day: date(2026, 10, day)  # noqa: E731
        await invoice("I1", "1000", october(1), 0, "paid", ("paid", at(20)),
                      paid=(("1000", at(20)),))
        await invoice("I2", "500", october(5), 2, "paid", ("overdue", at(20)),
                      ("overdue", at(27)), ("promised", at(28)), ("paid", at(3, month=11)),
                      late_fee="20", paid=(("520", at(3, month=11)),))
        await invoice("I3", "2000", october(10), 1, "overdue", ("overdue", at(25)),
                      ("promised", at(26)), ("overdue", at(30)), paid=(("500", at(28)),))
        await invoice("I4", "300", october(15), 3, "written_off", ("overdue", at(30)),
                      ("written_off", at(31)))
        await invoice("I5", "800", date(2026, 9, 30), 0, "open")
        await invoice("I6", "400", october(20), 0, "promised", ("promised", at(29)),
                      credited="100")

        definition = WorkflowDefinition(name="Welcome", object_type="lead", status="active",
                                        active_version=1)
        session.add(definition)
        await session.flush()
        known.definition_id = definition.id
        session.add(DefinitionVersion(
            definition_id=definition.id, version=1, published_at=at(1),
            body={"steps": [{"id": "welcome"}, {"id": "pause"}, {"id": "offer"}]}))

        async def enrolment(name: str, *visits: tuple[str, datetime],
                            ended: datetime | None = None) -> None:
            row = Enrolment(definition_id=definition.id, version=1, object_type="lead",
                            object_id=known.leads["L1"], workflow_id=f"own-{name}",
                            created_at=visits[0][1], ended_at=ended,
                            status="completed" if ended else "running", step=visits[-1][0])
            session.add(row)
            await session.flush()
            for step, when in visits:
                session.add(EnrolmentStep(enrolment_id=row.id, step=step, visit=1,
                                          entered_at=when))
            known.enrolments[name] = row.id

        await enrolment("E1", ("welcome", at(2)), ("pause", at(2, 2)), ("offer", at(5, 2)),
                        ended=at(5, 2))
        await enrolment("E2", ("welcome", at(3)), ("pause", at(3, 1)))
    return known

