"""An invoice in the console: its balance, lines, payments and dunning, and what an
accountant does about it — record a payment, dispute or resolve the dispute, take a promise
to pay, write it off — each through the API, offered as the status and the role allow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.console.forms import Fields, action, field, text, yes_no
from api.console.pages import PageDep, case, case_actions
from api.console.views import Page, Said, when
from api.lookups import ObjectId
from workflows.invoice_dunning import MAY_DECIDE, MAY_DISPUTE, MAY_PAY, MAY_PROMISE, TRANSITIONS
from workflows.registry import INVOICE_DUNNING

router = APIRouter(prefix="/console", include_in_schema=False)


def offered(invoice: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """The actions the invoice's status leads to (its process's own table) and the role may
    take; the API decides in the end, and its refusal is shown."""
    url, status = f"/console/invoices/{invoice['id']}", invoice["status"]
    goes = TRANSITIONS.get(status, ())
    today = datetime.now(UTC).date().isoformat()
    found = []
    if "paid" in goes and role in MAY_PAY:
        found.append(action(
            f"{url}/payments", "Record the payment",
            field("amount", f"Amount ({invoice['currency']})", "number", min="0.01", step="0.01",
                  hint=f"{invoice['balance']} {invoice['currency']} open; a part is fine."),
            field("reference", "Payment reference",
                  hint="The bank's or the payment provider's: a reference counts once."),
            legend="Record a payment"))
    if "disputed" in goes and status != "disputed" and role in MAY_DISPUTE:
        found.append(action(f"{url}/dispute", "Record the dispute",
                            field("reason", "What the customer contests", "textarea"),
                            legend="The customer disputes the invoice"))
    if status == "disputed" and role in MAY_DECIDE:
        found.append(action(
            f"{url}/dispute/resolve", "Resolve the dispute",
            field("upheld", "Was the customer right?", "choice",
                  options=[("yes", "Upheld: credit the open balance and close"),
                           ("no", "Rejected: the reminders resume")]),
            field("note", "Note", "textarea"), legend="Resolve the dispute"))
    if "promised" in goes and role in MAY_PROMISE:
        found.append(action(f"{url}/promise", "Record the promise",
                            field("pay_by", "Pays by", "date", min=today),
                            legend="The customer promises to pay"))
    if "written_off" in goes and role in MAY_DECIDE:
        found.append(action(f"{url}/write-off", "Write off",
                            field("reason", "Why", "textarea"),
                            legend="Write the open balance off"))
    return found


async def invoice_page(page: Page, invoice_id: int, said: Said | None = None,
                       status_code: int = 200, posted: tuple[str, Fields] | None = None
                       ) -> HTMLResponse:
    invoice = await page.backend.get(f"/invoices/{invoice_id}")
    cur = invoice["currency"]
    facts = [f"Account {invoice['account_id']} · issued {invoice['issued_on']} · due "
             f"{invoice['due_on']}",
             f"Total {invoice['total']} · paid {invoice['paid']} · credited "
             f"{invoice['credited']} · open balance {invoice['balance']} {cur}",
             f"Reminder level reached: {invoice['level_reached']}"]
    if invoice["promised_on"]:
        facts.append(f"Promised to pay by {invoice['promised_on']}")
    if (plan := invoice["next_action"]) and plan["what"]:
        facts.append(f"Next: {plan['what']}" + (f", {when(plan['on'])}" if plan["on"] else ""))
    if invoice["project_id"]:
        facts.append(f"From project {invoice['project_id']}")
    me = await page.me()
    return await case(page, "invoice", invoice_id, INVOICE_DUNNING, invoice, invoice=invoice,
                      title=f"Invoice {invoice['number']}", section="invoices",
                      heading=f"Invoice {invoice['number']}", facts=facts,
                      actions=offered(invoice, me["role"]), parts=["_invoice.html.j2"],
                      said=said, status_code=status_code, posted=posted)


@router.get("/invoices/{invoice_id}", response_class=HTMLResponse)
async def invoice_case(page: PageDep, invoice_id: ObjectId) -> HTMLResponse:
    return await invoice_page(page, invoice_id)


case_actions(router, "invoices", invoice_page, [
    ("payments", "payments", "payment", lambda f: {"amount": text(f, "amount"),
                                                   "reference": text(f, "reference")}),
    ("dispute", "dispute", "dispute", lambda f: {"reason": text(f, "reason")}),
    ("dispute/resolve", "dispute/resolve", "resolved-dispute",
     lambda f: {"upheld": yes_no(f, "upheld"), "note": text(f, "note")}),
    ("promise", "promise", "promise", lambda f: {"pay_by": text(f, "pay_by")}),
    ("write-off", "write-off", "write-off", lambda f: {"reason": text(f, "reason")}),
])
