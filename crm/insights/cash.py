"""Cash: the invoices issued in the period, by the highest level of the dunning ladder each
reached (0: none), what was invoiced and collected on them, what is still open; days sales
outstanding; and the payment promises kept and broken.

- Collected after a level: the payments on the invoices whose highest level is that one (an
  invoice paid after the second reminder counts at level 2).
- Days sales outstanding: what the period's invoices still owed at its end (payments received
  by then taken off; credit notes and written-off invoices as they stand) ÷ what they
  invoiced, times the period's days. It needs both ends of the period.
- A promise is kept when the invoice went from promised to paid, broken when it went anywhere
  else (the ladder resumed), pending while it is still promised.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.insights.charts import Chart, Slice, money
from crm.insights.processes import FOLLOWED
from crm.insights.ranks import count_of
from crm.models import Invoice, Payment, StatusChange

COLUMNS = ["level", "invoices", "invoiced", "collected", "paid", "open_balance"]


def _day(moment: datetime, where: Slice) -> Any:
    return moment.astimezone(where.zone).date()


async def cash(session: AsyncSession, where: Slice) -> Chart:
    issued = FOLLOWED["invoice_dunning"].cases(where, born_in_period=False)
    if where.since is not None:
        issued.append(Invoice.issued_on >= _day(where.since, where))
    if where.until is not None:
        issued.append(Invoice.issued_on < _day(where.until, where))
    by_end = (case((Payment.received_at < where.until, Payment.amount), else_=0)
              if where.until is not None else Payment.amount)
    paid = (select(Payment.invoice_id, func.sum(Payment.amount).label("paid"),
                   func.sum(by_end).label("by_end"))
            .group_by(Payment.invoice_id).subquery())
    invoiced = Invoice.amount + Invoice.late_fee
    owed_at_end = func.coalesce(func.sum(
        (invoiced - Invoice.credited - func.coalesce(paid.c.by_end, 0))
        * case((Invoice.status == "written_off", 0), else_=1)), 0)
    rows = await session.execute(
        select(Invoice.level_reached, func.count().label("invoices"),
               func.sum(invoiced).label("invoiced"),
               func.coalesce(func.sum(paid.c.paid), 0).label("collected"),
               count_of(Invoice.status == "paid").label("paid_invoices"),
               owed_at_end.label("owed_at_end"),
               func.sum(_open_now(invoiced, paid.c.paid)).label("open_balance"))
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .where(*issued).group_by(Invoice.level_reached).order_by(Invoice.level_reached))
    table, invoiced_total, owed_total = [], Decimal(0), Decimal(0)
    for row in rows:
        invoiced_total += Decimal(row.invoiced or 0)
        owed_total += Decimal(row.owed_at_end or 0)
        table.append({"level": int(row.level_reached), "invoices": int(row.invoices),
                      "invoiced": money(row.invoiced), "collected": money(row.collected),
                      "paid": int(row.paid_invoices), "open_balance": money(row.open_balance)})
    days = ((where.until.astimezone(UTC) - where.since.astimezone(UTC)).total_seconds() / 86400
            if where.since is not None and where.until is not None else None)
    dso = (round(float(owed_total / invoiced_total) * days, 1)
           if days is not None and invoiced_total else None)
    return Chart("cash", "invoice_dunning", COLUMNS, table, where.covers(), {
        "days_sales_outstanding": dso, "promises": await _promises(session, issued)})


def _open_now(invoiced: Any, paid: Any) -> Any:
    """What the invoice owes now (nothing once paid, written off or credited)."""
    return case((Invoice.status.in_(("paid", "written_off", "credited")), 0),
                else_=invoiced - Invoice.credited - func.coalesce(paid, 0))


async def _promises(session: AsyncSession, issued: list[Any]) -> dict[str, int]:
    sc = StatusChange
    moves = (select(sc.from_status, sc.to_status,
                    func.lead(sc.to_status).over(partition_by=sc.object_id,
                                                 order_by=(sc.changed_at, sc.id)).label("next"))
             .where(sc.object_type == "invoice", sc.from_status != sc.to_status,
                    sc.object_id.in_(select(Invoice.id).where(*issued)))
             .subquery())
    kept, broken, pending = (await session.execute(
        select(count_of(moves.c.next == "paid"),
               count_of(moves.c.next.is_not(None) & (moves.c.next != "paid")),
               count_of(moves.c.next.is_(None)))
        .where(moves.c.to_status == "promised"))).one()
    return {"kept": int(kept), "broken": int(broken), "pending": int(pending)}
